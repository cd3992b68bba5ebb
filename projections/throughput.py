"""The batch writer's own rate, for `dealflow bench`: facts and alerts per second into PostgreSQL.

``python -m projections.throughput RECORDS PLAYBOOK DATABASE_URL [BATCH]`` reads ``RECORDS`` (JSON
lines of ``["fact" | "alert", payload]``, in order) and ``PLAYBOOK`` (a playbook as JSON), writes
the records into the database through the direct path of `dealflow backtest --database-url` (the
projector's batch writer, without Kafka) in batches of ``BATCH`` (default 5000, the projector's),
and prints the records per second of writing: the migrations, the playbook's criteria and
decoding the files are not timed. `dealflow bench` runs it as a process of its own. The
collector is set as in a projector's process (:func:`projections.projector.tune_collector`), after
the records are read: otherwise every full collection walks the records held in memory, which the
projector, reading them batch by batch, never holds.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from projections.direct import DirectProjection
from projections.projector import tune_collector
from schemas.playbook import Playbook


def write_rate(database_url: str, playbook: Playbook, records: list[tuple[str, dict[str, Any]]],
               batch_size: int) -> float:
    """Records per second that :class:`~projections.direct.DirectProjection` writes ``records`` at."""
    projection = DirectProjection(database_url, playbook, batch_size=batch_size)
    started = time.perf_counter()
    for kind, payload in records:
        projection.add(kind, payload)
    projection.close()
    return len(records) / (time.perf_counter() - started)


USAGE = "usage: python -m projections.throughput RECORDS PLAYBOOK DATABASE_URL [BATCH]"


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4) or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    records_path, playbook_path, database_url, *rest = argv
    with open(records_path, encoding="utf-8") as lines:
        records = [(kind, payload) for kind, payload in map(json.loads, lines)]
    with open(playbook_path, encoding="utf-8") as playbook:
        rules = Playbook.model_validate_json(playbook.read())
    tune_collector()
    print(f"{write_rate(database_url, rules, records, int(rest[0]) if rest else 5000):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
