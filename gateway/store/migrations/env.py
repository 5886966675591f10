"""Alembic environment: always run in-process on a connection handed over by ``gateway.store.db``."""

from __future__ import annotations

from alembic import context

from gateway.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
