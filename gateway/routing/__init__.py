"""Routing: which adapter delivers a destination's service, and the runner that calls it."""
