"""Fleets to export: the captured real host reports plus generated variants, and a real Placement."""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import usage
from tests.harness.requirements import PLACEMENT_VENV, missing_placement
from vmplatform.model.platforms import PlatformSet, load_platforms
from vmplatform.model.report import HostReport, loads
from vmplatform.probe.fake import FakeHost

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def platforms() -> PlatformSet:
    return load_platforms([], env={}, system=None)


def corpus_reports() -> list[HostReport]:
    """The captured reports of real hosts (tests/data/hosts)."""
    return [loads(p.read_text(encoding="utf-8"), str(p)) for p in sorted((DATA / "hosts").glob("*.json"))]


def generated_fleet(platforms: PlatformSet, n: int, seed: int,
                    keep: frozenset[str] = frozenset()) -> list[tuple[str, HostReport]]:
    """The real reports plus ``n`` hosts each a real host with a few features knocked out or unknown.

    Knocking features out of real feature sets gives the shapes a real fleet
    has (a module not loaded, an unprivileged probe) without inventing sets
    no kernel ever had.
    """
    rng = random.Random(seed)
    real = corpus_reports()
    fleet = [(r.name, r) for r in real]
    ids = sorted(f.id for f in platforms.catalog)
    for i in range(n):
        base = rng.choice(real)
        have = set(base.supported())
        for f in rng.sample(sorted(have - keep), k=min(len(have - keep), rng.randint(0, 3))):
            have.discard(f)
        unknown = {f: "probe not permitted" for f in rng.sample(ids, k=rng.randint(0, 1))
                   if f not in have and f not in keep}
        host = FakeHost(hostname=f"gen-{seed}-{i:03d}", kernel_release=base.host.kernel_release,
                        supported=frozenset(have), unknown=unknown, os_release=base.host.os_release)
        fleet.append((host.hostname, host.run(platforms.catalog)))
    return fleet


def placement_missing() -> str | None:
    usage.checked([missing_placement])
    return missing_placement()


class Placement:
    def __init__(self, url: str, workdir: Path) -> None:
        self.url = url
        self.workdir = workdir


@pytest.fixture(scope="module")
def placement() -> Iterator[Placement]:
    """A real Placement service: SQLite, noauth2, its schema made by placement-manage, on a loopback port."""
    reason = placement_missing()
    if reason:
        pytest.skip(reason)
    work = Path(tempfile.mkdtemp(prefix="vmplatform-placement-"))
    (work / "placement.conf").write_text(
        "[api]\nauth_strategy = noauth2\n"
        f"[placement_database]\nconnection = sqlite:///{work}/placement.db\n", encoding="utf-8")
    py = str(PLACEMENT_VENV / "bin" / "python")
    subprocess.run([str(PLACEMENT_VENV / "bin" / "placement-manage"), "--config-file",
                    str(work / "placement.conf"), "db", "sync"], check=True, capture_output=True, timeout=120)
    log = open(work / "placement.log", "wb")
    proc = subprocess.Popen([py, str(HERE / "placement_app.py"), str(work)], stdout=subprocess.PIPE,
                            stderr=log, cwd=work)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("listening "):
            log.flush()
            raise RuntimeError(f"placement did not start: {(work / 'placement.log').read_text()[-2000:]}")
        yield Placement(f"http://127.0.0.1:{int(line.split()[1])}", work)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def placement_python() -> str:
    return str(PLACEMENT_VENV / "bin" / "python")


