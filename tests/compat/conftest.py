"""Fixtures for manifests, verdicts, merges, baselines and libvirt: the
packaged catalog, platforms and machine snapshot, and the host corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmplatform.machines import MachineCatalog, default_machine_catalog
from vmplatform.platforms import PlatformSet, load_platforms
from vmplatform.report import HostReport, loads

DATA = Path(__file__).parent.parent / "data"
HOSTS = DATA / "hosts"
DOMAINS = DATA / "domains"
MANIFESTS = DATA / "manifests"
CORPUS = sorted(p.stem for p in HOSTS.glob("*.json"))


def report(name: str) -> HostReport:
    path = HOSTS / f"{name}.json"
    return loads(path.read_text(), str(path))


@pytest.fixture(scope="session")
def platforms() -> PlatformSet:
    return load_platforms(env={}, system=None)


@pytest.fixture(scope="session")
def mc() -> MachineCatalog:
    return default_machine_catalog()
