"""Alembic migration environment of the fleet store (run by :mod:`vmplatform.fleet.store`)."""
