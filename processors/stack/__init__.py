"""The local stack behind ``dealflow stack up|status|down``: a KRaft broker from Maven jars and PostgreSQL."""
