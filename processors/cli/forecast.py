"""``dealflow forecast``: the evidence forecast as of a moment, or its accuracy on the log's own history."""

from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from processors.cli.common import settings_of
from processors.config import Settings
from processors.forecast.history import LogRecord, log_records


def _from_kafka(settings: Settings, timeout: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from processors.kafka.clients import read_records
    from processors.kafka.security import client_options

    def topic(name: str) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in read_records(settings.kafka_bootstrap, name, timeout=timeout,
                                                          options=client_options(settings))]
    return topic(settings.topics.events), topic(settings.topics.alerts)


def load_log(args: argparse.Namespace, settings: Settings) -> list[LogRecord]:
    """The facts and alerts to forecast from: a backtest input, backtest outputs, or the topics."""
    from processors.playbooks.loader import load_playbook
    from processors.replay.backtest import load_json_lines, run_backtest

    if args.input:
        print(f"replaying {args.input} through the core ...", file=sys.stderr)
        with open(args.input, encoding="utf-8") as handle:
            alerts, facts = io.BytesIO(), io.BytesIO()
            run_backtest(handle, load_playbook(settings.playbook), alerts, facts, errors=sys.stderr)
        return log_records(load_json_lines(facts.getvalue()), load_json_lines(alerts.getvalue()))
    if args.events:
        alerts_read = load_json_lines(Path(args.alerts).read_bytes()) if args.alerts else []
        return log_records(load_json_lines(Path(args.events).read_bytes()), alerts_read)
    print(f"reading {settings.topics.events} and {settings.topics.alerts} ...", file=sys.stderr)
    return log_records(*_from_kafka(settings, args.timeout))


def _kind(args: argparse.Namespace) -> str:
    if args.period:
        from processors.forecast.periods import parse_period
        return "quarter" if "Q" in parse_period(args.period).name else "month"
    return str(args.period_kind)


def cmd_forecast(args: argparse.Namespace) -> int:
    from processors.cli.views import to_json
    from processors.forecast.forecast import Forecaster
    from processors.forecast.periods import parse_period
    from processors.playbooks.loader import load_playbook

    settings = settings_of(args)
    if args.alerts and not args.events:
        print("--alerts goes with --events (the facts of the same backtest)", file=sys.stderr)
        return 2
    try:
        period = parse_period(args.period).name if args.period else None
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    playbook = load_playbook(settings.playbook)
    records = load_log(args, settings)
    if not records:
        print("no facts to forecast from (is the event log empty?)", file=sys.stderr)
        return 1
    if args.backtest:
        return _backtest(args, settings, records, playbook)
    as_of = args.as_of or (records[-1].moment if (args.input or args.events) else datetime.now(timezone.utc))
    forecast = Forecaster(records, playbook, _kind(args)).forecast(as_of, period=period, team=args.team)
    if args.save:
        from projections.forecast_rows import save_forecast
        written = save_forecast(settings.database_url, forecast)
        print(f"saved the forecast as of {as_of.isoformat()} ({written} rows)", file=sys.stderr)
    if args.json:
        print(to_json(forecast))
        return 0
    _print_forecast(forecast, args.deals)
    return 0


def _print_forecast(forecast: Any, shown: int) -> None:
    from processors.cli.views import print_tables, table
    from processors.forecast.learning import MIN_CLOSED_DEALS

    model = ("evidence: win probabilities learned from the closed history" if forecast.model == "evidence" else
             f"stage win rates (fallback: fewer than {MIN_CLOSED_DEALS} closed deals or too few known outcomes)")
    print(f"forecast as of {forecast.as_of.isoformat()}; model: {model}; {forecast.closed_deals} closed deals")
    money = ["won_to_date", "expected", "baseline", "commit", "best_case", "pipeline"]
    teams = any(x.team for x in forecast.lines)
    rows = [{"period": x.period, **({"team": x.team or "(all)"} if teams else {}),
             **{k: f"{getattr(x, k):,.0f}" for k in money}, "open deals": x.open_deals}
            for x in forecast.lines if x.owner_id is None]
    deals = [{"deal": d.deal_id, "period": d.period, "owner": d.owner_id, "stage": d.stage,
              "amount": f"{d.amount:,.0f}", "win %": f"{100 * d.probability:.0f}",
              "stage rate %": f"{100 * d.baseline_probability:.0f}", "category": d.category,
              "why": ", ".join(f"{f.name} {f.effect:+.1f}" for f in d.factors)}
             for d in sorted(forecast.deals, key=lambda d: -d.amount)[:shown]]
    print_tables(table("Forecast per period (everyone, then per team; --json for owners)", rows),
                 table(f"Largest open deals (top {shown}; why: the factors' effects on the log-odds, "
                       "described in --json)", deals))


def _backtest(args: argparse.Namespace, settings: Settings, records: list[LogRecord], playbook: Any) -> int:
    from processors.cli.views import print_tables, table, to_json
    from processors.forecast.accuracy import run_forecast_backtest

    store = None
    if args.save:  # the weekly snapshots the history would have had, for forecast_vs_actual and Grafana
        from projections.forecast_rows import save_forecast

        def store(forecast: Any) -> None:
            save_forecast(settings.database_url, forecast)
    report = run_forecast_backtest(records, playbook, _kind(args),
                                   progress=lambda line: print(line, file=sys.stderr), each=store)
    if args.save:
        print(f"saved {len(report.weeks)} weekly snapshots", file=sys.stderr)
    if args.json:
        print(to_json(report))
        return 0
    if not report.periods:
        print("no complete period in the log: the backtest needs a log spanning at least one whole period")
        return 1
    weeks = {(w.period, w.week): w for w in report.weeks}
    periods = [{"period": name, "week": n, "model": w.model, "actual won": f"{report.actual[name]:,.0f}",
                "evidence": f"{w.expected:,.0f}", "baseline": f"{w.baseline:,.0f}", "CRM": f"{w.crm_pipeline:,.0f}"}
               for name in report.periods for n in (2, 4, 8) if (w := weeks.get((name, n))) is not None]
    errors = [{"method": method, "at": at, "forecasts": e.forecasts, "MAPE": _pct(e.mape), "WAPE": _pct(e.wape),
               "bias": _pct(e.bias)} for method, by_at in report.errors.items() for at, e in by_at.items()]
    calibration = [{"method": m, "probability": f"{b.low:.1f}-{b.high:.1f}", "deals": b.deals,
                    "mean probability": f"{b.mean_probability:.3f}", "won": f"{b.won_share:.3f}"}
                   for m, bins in report.calibration.items() for b in bins]
    print_tables(table("Forecast against what was won, per period at weeks 2, 4 and 8 (CRM: the weighted pipeline "
                       "of eventual stage win rates)", periods),
                 table("Errors (MAPE: mean absolute % error per period; WAPE: summed errors / summed actuals)",
                       errors),
                 table(f"Deal probabilities: Brier score evidence {report.brier['evidence']:.4f}, "
                       f"baseline {report.brier['baseline']:.4f}, CRM {report.brier['crm_pipeline']:.4f} "
                       f"({report.scored_deals} deal-weeks; CRM: the weighted pipeline of eventual stage win rates)",
                       calibration))
    return 0


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:+.1f} %" if value < 0 else f"{100 * value:.1f} %"
