"""The worker's HTTP endpoint: ``/metrics`` (Prometheus), ``/healthz`` (liveness), ``/readyz`` (readiness).

Binds to 127.0.0.1 unless ``DEALFLOW_METRICS_HOST`` says otherwise (an explicit choice).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from kafka import KafkaAdminClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from processors.config import Settings
from processors.kafka.security import client_options

Check = Callable[[], str | None]


def kafka_check(bootstrap: str) -> Check:
    def check() -> str | None:
        try:
            KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000,
                             bootstrap_timeout_ms=3000, **client_options()).close()
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            return f"unreachable ({type(exc).__name__})"
        return None

    return check


def database_check(url: str) -> Check:
    def check() -> str | None:
        try:
            psycopg.connect(url, connect_timeout=3).close()
        except psycopg.Error as exc:
            return f"unreachable ({type(exc).__name__})"  # never the URL: it may hold a password
        return None

    return check


class Readiness:
    """Runs the checks at most every ``ttl`` seconds and remembers the answer."""

    def __init__(self, checks: dict[str, Check], ttl: float = 5.0) -> None:
        self.checks = checks
        self.ttl = ttl
        self._lock = threading.Lock()
        self._at = 0.0
        self._result: dict[str, str] = {}

    def result(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._at > self.ttl:
                self._result = {name: (check() or "ok") for name, check in self.checks.items()}
                self._at = time.monotonic()
            return dict(self._result)


def _handler(readiness: Readiness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b'{"status": "alive"}', "application/json")
            elif path == "/readyz":
                checks = readiness.result()
                ready = all(value == "ok" for value in checks.values())
                body = json.dumps({"status": "ready" if ready else "not ready", **checks}).encode()
                self._send(200 if ready else 503, body, "application/json")
            else:
                self._send(404, b'{"error": "not found"}', "application/json")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence access logs
            return

    return Handler


def serve(settings: Settings, checks: dict[str, Check] | None = None) -> ThreadingHTTPServer:
    """Start the endpoint in a daemon thread on ``DEALFLOW_METRICS_HOST``:``DEALFLOW_METRICS_PORT``."""
    readiness = Readiness(checks if checks is not None else {
        "kafka": kafka_check(settings.kafka_bootstrap),
        "database": database_check(settings.database_url),
    })
    server = ThreadingHTTPServer((settings.metrics_host, settings.metrics_port), _handler(readiness))
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
