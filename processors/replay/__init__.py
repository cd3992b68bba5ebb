"""Replaying a stream on an event-time clock: ``dealflow backtest``, the same core as the live worker."""
