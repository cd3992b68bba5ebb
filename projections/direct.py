"""Writing facts and alerts straight into PostgreSQL, without Kafka (``dealflow backtest --database-url``)."""

from __future__ import annotations

from typing import Any

import psycopg

from projections.migrate import apply_migrations
from projections.projector import apply_payloads, sync_stage_criteria
from schemas.playbook import Playbook


class DirectProjection:
    """Buffers ("fact" | "alert", payload) pairs and applies them in batched transactions."""

    def __init__(self, database_url: str, playbook: Playbook, batch_size: int = 2000) -> None:
        apply_migrations(database_url)
        self.conn = psycopg.connect(database_url, autocommit=True)
        sync_stage_criteria(self.conn, playbook)
        self.batch_size = batch_size
        self.buffer: list[tuple[str, dict[str, Any]]] = []
        self.written = 0

    def add(self, kind: str, payload: dict[str, Any]) -> None:
        self.buffer.append((kind, payload))
        if len(self.buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        with self.conn.transaction(), self.conn.cursor() as cur:
            self.written += apply_payloads(cur, self.buffer).records
        self.buffer = []

    def close(self) -> None:
        self.flush()
        self.conn.close()
