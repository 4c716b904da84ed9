"""``vmplatform fleet ...``: the inventory of host reports and the questions asked of it.

The subcommands live in :mod:`vmplatform.fleet.cli`; they need the ``fleet``
extra (SQLAlchemy, Alembic, Starlette, uvicorn, tqdm, psycopg), imported only
when a fleet command runs.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..fleet.cli import add_arguments as add

    add(p)


def run(ns: argparse.Namespace) -> int:
    from ..fleet.cli import run as run_fleet

    return run_fleet(ns)
