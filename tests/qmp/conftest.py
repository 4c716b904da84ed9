"""Fixtures for the QMP endpoint tests (see _support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.requirements import missing_qemu, missing_qmp_library, missing_root, missing_tun, skip_unless
from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import HostReport
from vmplatform.qmp.local import LocalCommands
from vmplatform.resolution.support import evaluate

from ._support import Qemu

PLATFORM = "linux-6.2"


@pytest.fixture(scope="session")
def host_report() -> HostReport:
    skip_unless(missing_root, missing_tun)
    from vmplatform.probe.linux import LinuxProbe

    return LinuxProbe().run(default_catalog())


@pytest.fixture(scope="session")
def local(host_report: HostReport) -> LocalCommands:
    platforms = load_platforms()
    return LocalCommands(evaluate(host_report, platforms), platforms.catalog, PLATFORM)


def skip_qemu() -> None:
    """Skip unless a TAP-backed real QEMU and qemu.qmp can run here."""
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library)


@pytest.fixture()
def qemu() -> Iterator[Qemu]:
    skip_qemu()
    q = Qemu()
    try:
        yield q
    finally:
        q.close()
