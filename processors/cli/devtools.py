"""Developer and demo commands: ``sample``, ``simulate``, ``bench``, ``soak`` and ``demo``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from processors.cli.common import settings_of
from processors.kafka.security import client_options


def cmd_sample(args: argparse.Namespace) -> int:
    from processors.kafka.clients import produce
    from processors.tools.sample import sample_stream

    messages = sample_stream(datetime.now(timezone.utc))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            for message in messages:
                out.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        print(f"wrote {len(messages)} messages to {args.out}")
        return 0
    settings = settings_of(args)
    sent = produce(settings.kafka_bootstrap, settings.topics, messages, delay=args.delay,
                   options=client_options(settings))
    print(f"produced {sent} sample messages to {settings.topics.engagement} and {settings.topics.commands}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from processors.kafka.clients import produce
    from processors.playbooks.loader import load_playbook
    from processors.tools.simulate import SimulationSettings, simulate

    settings = settings_of(args)
    end = args.end or datetime.now(timezone.utc)
    messages = simulate(SimulationSettings(deals=args.deals, days=args.days, seed=args.seed),
                        load_playbook(settings.playbook), end)
    if args.out:
        with (sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")) as out:
            for message in messages:
                out.write(json.dumps(message) + "\n")
        print(f"simulated {len(messages):,} messages for {args.deals:,} deals over {args.days:g} days "
              f"(seed {args.seed})", file=sys.stderr)
        return 0
    delay = 1.0 / args.rate if args.rate > 0 else 0.0
    print(f"producing {len(messages):,} simulated messages to {settings.kafka_bootstrap}"
          + (f" at {args.rate:g} msg/s" if delay else " as fast as possible"), file=sys.stderr)
    sent = produce(settings.kafka_bootstrap, settings.topics, messages, delay=delay, options=client_options(settings))
    print(f"produced {sent:,} messages", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from processors.tools.bench import BenchOptions, run_bench

    options = BenchOptions(messages=args.messages, latency_seconds=args.latency_seconds,
                           backtest_messages=args.backtest_messages, state_deals=args.state_deals,
                           recovery_deals=args.recovery_deals, scale_out_workers=args.workers)
    if args.latency_rate:
        options.latency_rates = tuple(args.latency_rate)
    if args.runtime:
        options.runtimes = tuple(args.runtime)
    print("==> dealflow bench (progress below; the table follows)", file=sys.stderr)
    report = run_bench(settings_of(args), options)
    print("| measurement | result |\n|---|---|")
    print(report.render())
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    from processors.tools.soak import run_soak, summary

    samples = run_soak(settings_of(args), args.minutes, args.rate, args.interval, args.warmup,
                       args.fixed_deals)
    print("| measurement | result |\n|---|---|")
    for name, value in summary(samples, args.rate):
        print(f"| {name} | {value} |")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from processors.tools.demo import run_demo

    return run_demo(settings_of(args), seconds=args.seconds)
