"""Metrics, their instrumentation, logs and the HTTP endpoint (``/metrics``, ``/healthz``, ``/readyz``)."""
