"""Kafka plumbing shared by the shells: producing and reading topics, connection security, topic creation."""
