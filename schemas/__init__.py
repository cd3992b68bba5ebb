"""Dealflow's wire contract (pydantic v2 models) and playbook model.

This package imports nothing else of the project.
"""
