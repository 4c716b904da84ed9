"""The fleet store under faults: writers killed mid-transaction, a database server restarted mid-ingest.

Nothing committed is lost, nothing half-written is visible, and an ingest
says exactly which reports it could not store. The restart runs on a private
PostgreSQL server this test starts (initdb in a temporary directory, a Unix
socket only), so it disturbs no other user of the machine's cluster.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the fleet extra (SQLAlchemy) is not installed")

from tests.fleet.conftest import HOSTS, db_url, pg_url, sqlite_url  # noqa: E402,F401 (fixtures)
from vmplatform.fleet.ingest import ingest  # noqa: E402
from vmplatform.fleet.store import Store  # noqa: E402

WRITERS = 8
PER_WRITER = 40

_WRITER = """
import sys
from vmplatform.fleet.ingest import ingest
from vmplatform.fleet.store import Store
with Store.open(sys.argv[1]) as s:
    r = ingest(s, [sys.argv[2]], batch_size=2)
    assert not r.refused, r.refused
"""


def _reports(d: Path, prefix: str, n: int) -> dict[str, str]:
    """n reports for distinct hosts; returns host -> probed-at."""
    seed = json.loads((HOSTS / "debian13-6.12.json").read_text())
    d.mkdir(parents=True)
    out = {}
    for i in range(n):
        host = f"{prefix}-{i:03d}"
        seed["host"]["hostname"] = host
        seed["probed-at"] = f"2026-02-{1 + i % 28:02d}T00:00:{i % 60:02d}+00:00"
        (d / f"{i:03d}.json").write_text(json.dumps(seed))
        out[host] = seed["probed-at"]
    return out


def _every_stored_report_is_whole(store: Store) -> int:
    rows = store.hosts()
    for r in rows:
        rep = store.report(r.report_id)   # decompressed and parsed: a torn body would not be
        assert rep.name == r.name
    return len(rows)


def test_eight_writers_one_killed_mid_transaction(db_url: str, tmp_path: Path) -> None:
    expected: dict[str, str] = {}
    for w in range(WRITERS):
        expected |= _reports(tmp_path / f"w{w}", f"w{w}", PER_WRITER)
    with Store.open(db_url):
        pass
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, db_url, str(tmp_path / f"w{w}")],
                              stderr=subprocess.PIPE) for w in range(WRITERS)]
    time.sleep(0.8)
    victim = procs[0]
    victim.send_signal(signal.SIGKILL)
    for p in procs[1:]:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    victim.communicate()
    with Store.open(db_url) as store:
        stored = {r.name for r in store.hosts()}
        survivors = {h for h in expected if not h.startswith("w0-")}
        assert survivors <= stored, "a report a surviving writer committed is missing"
        # The killed writer's reports are in or out by whole batches, and what is in is whole.
        assert all(h in expected for h in stored)
        _every_stored_report_is_whole(store)
        assert store.count_reports() == len(stored)


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """A PostgreSQL server of this test's own: (URL, data dir, pg_ctl)."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins or os.geteuid() != 0:
        pytest.skip("needs Debian's postgresql server binaries and root (to run them as 'postgres')")
    bindir = bins[-1]
    base = Path(f"/tmp/vmpf-pg-{os.getpid()}-{tmp_path.name}")
    data, sock = base / "data", base / "sock"
    sock.mkdir(parents=True)
    shutil.chown(base, "postgres")
    shutil.chown(sock, "postgres")
    pg_ctl = f"{bindir}/pg_ctl"

    def as_postgres(*cmd: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120)

    as_postgres(f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    opts = f"-c listen_addresses='' -c unix_socket_directories={sock} -c fsync=off"
    # -l: the server's output goes to a file, not to the pipe this test reads (which would never close).
    as_postgres(pg_ctl, "-D", str(data), "-l", str(base / "log"), "-o", opts, "-w", "start")
    try:
        yield f"postgresql://postgres@/postgres?host={sock}", data, pg_ctl
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.postgres
@pytest.mark.root
def test_postgres_restarted_mid_ingest(private_pg: tuple[str, Path, str], tmp_path: Path) -> None:
    url, data, pg_ctl = private_pg
    expected = _reports(tmp_path / "in", "pg", 300)
    store = Store.open(url)
    socket_file = next((data.parent / "sock").glob(".s.PGSQL.*"))
    restarted: list[float] = []

    def restart() -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", pg_ctl, "-D", str(data), "-l", str(data.parent / "log"),
                        "-m", "fast", "-w", "restart"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        restarted.append(time.monotonic())

    import threading

    seen: list[str] = []
    calls = {"n": 0}
    real_add = store.add_rows

    def add_rows_then_restart(rows, labels=()):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:   # mid-ingest: the next batch is written while the server is down
            threading.Thread(target=restart).start()
            deadline = time.monotonic() + 30
            while socket_file.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        ids = real_add(rows, labels)
        seen.extend(r.host for r in rows)
        return ids

    store.add_rows = add_rows_then_restart  # type: ignore[method-assign]
    result = ingest(store, [str(tmp_path / "in")], batch_size=10, workers=1)
    store.close()
    assert restarted, "the server was not restarted"
    batches = -(-len(expected) // 10)
    assert calls["n"] > batches, "no write met the restart: the test proved nothing"
    not_stored = {Path(r.source).name for r in result.refused}
    with Store.open(url) as check:
        stored = {r.name for r in check.hosts()}
        # Everything the ingest counted as stored is there, whole; what it refused is named.
        assert result.reports == len(stored) == check.count_reports()
        assert set(seen) == stored
        assert len(stored) + len(not_stored) == len(expected)
        # The server was back within the retries: nothing had to be given up.
        assert not result.refused, result.refused[:3]
        _every_stored_report_is_whole(check)
