# Dealflow runtime image: `dealflow <command>` (worker, migrate, topics, ...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEALFLOW_HOME=/var/lib/dealflow

WORKDIR /app
# The locked packages first (versions and hashes), so this layer is reused until the lock changes.
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY . .

RUN pip install --no-cache-dir --no-deps . \
    && useradd --system --uid 10001 --user-group --create-home dealflow \
    && mkdir -p "$DEALFLOW_HOME" \
    && chown dealflow:dealflow "$DEALFLOW_HOME"

USER dealflow

# Prometheus metrics (DEALFLOW_METRICS_PORT).
EXPOSE 9464

ENTRYPOINT ["dealflow"]
CMD ["worker"]
