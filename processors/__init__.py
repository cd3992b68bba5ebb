"""Dealflow stream processors: the pure core (``processors.core``) and the shells that run it."""
