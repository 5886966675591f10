"""Routing: where a submission goes next (the stage message and the outbox row that carries it)
and which adapter delivers a destination's service (the adapter bindings)."""
