"""Alembic environment: runs on the connection the store hands over (never reads alembic.ini)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, version_table="fleet_alembic_version")
with context.begin_transaction():
    context.run_migrations()
