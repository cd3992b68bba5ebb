"""Playbooks: the default playbook (``default.toml``) and the loader that validates playbook files."""
