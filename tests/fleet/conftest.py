"""Fleet store fixtures: a fresh SQLite file and a fresh database on a real PostgreSQL server.

PostgreSQL: ``$VMPLATFORM_TEST_PG`` (an admin URL) or the local server over
its Unix socket (``scripts/start-postgres`` starts it and creates a role for
this user). Each test database is created with a name unique to the process
and dropped afterwards; without a server the PostgreSQL cases skip, saying so.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the fleet extra (SQLAlchemy) is not installed")

from tests.harness.requirements import PG_ADMIN, missing_postgres, skip_unless  # noqa: E402
from vmplatform.fleet.store import Store  # noqa: E402

HOSTS = Path(__file__).parent.parent / "data" / "hosts"
MANIFESTS = Path(__file__).parent.parent / "data" / "manifests"


def _pg_admin() -> object:
    skip_unless(missing_postgres)
    import psycopg

    return psycopg.connect(PG_ADMIN.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                           connect_timeout=3)


@contextlib.contextmanager
def fresh_pg() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (dropped afterwards); skips without a server."""
    admin = _pg_admin()
    name = f"vmpf_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_pg() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return str(tmp_path / "fleet.db")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "fleet.db")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as s:
        yield s
