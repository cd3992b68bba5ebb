"""PostgreSQL projections of the deal event log: migrations, the projector and queries."""
