"""The worker's logging stays at the configured level (Faust's spinner would lower it to DEBUG)."""

from __future__ import annotations

import logging

import faust

from processors.observability.logs import logging_config
from processors.runtime.worker import ServiceWorker


def test_at_warn_level_no_library_debug_message_is_even_built() -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        app = faust.App("logging-check", Worker=ServiceWorker)
        worker = ServiceWorker(app, loglevel="warn", logging_config=logging_config("warn"))
        worker._setup_logging()  # noqa: SLF001 - what the worker runs first on start
        assert root.level == logging.WARNING
        assert not logging.getLogger("aiokafka.producer").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("faust.transport").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
