"""Several processes writing to one store at once lose nothing and leave every host at its newest report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vmplatform.fleet.store import Store

from .conftest import HOSTS

WRITERS = 4
PER_WRITER = 60

_WRITER = """
import sys
from vmplatform.fleet.ingest import ingest
from vmplatform.fleet.store import Store
with Store.open(sys.argv[1]) as s:
    r = ingest(s, [sys.argv[2]], batch_size=3)
    assert not r.refused, r.refused
"""


def test_concurrent_writers_lose_nothing(db_url: str, tmp_path: Path) -> None:
    seed = json.loads((HOSTS / "debian13-6.12.json").read_text())
    newest: dict[str, str] = {}
    for w in range(WRITERS):
        d = tmp_path / f"w{w}"
        d.mkdir()
        for i in range(PER_WRITER):
            host = f"shared-{i % 20:02d}"          # every writer reports for the same 20 hosts
            when = f"2026-01-{1 + (i * WRITERS + w) % 28:02d}T{w:02d}:00:{i % 60:02d}+00:00"
            seed["host"]["hostname"] = host
            seed["probed-at"] = when
            (d / f"{i:03d}.json").write_text(json.dumps(seed))
            newest[host] = max(newest.get(host, ""), when)
    with Store.open(db_url):
        pass  # schema first: the test is about reports, not about racing migrations
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, db_url, str(tmp_path / f"w{w}")],
                              stderr=subprocess.PIPE) for w in range(WRITERS)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    with Store.open(db_url) as store:
        assert store.count_reports() == WRITERS * PER_WRITER
        rows = store.hosts()
        assert len(rows) == 20
        from vmplatform.fleet.store import normalise_time

        for r in rows:
            assert r.probed_at == normalise_time(newest[r.name], "")
            # the pointer names a report of that host with that time: not torn between two writers
            rep = store.report(r.report_id)
            assert rep.name == r.name and normalise_time(rep.probed_at, "") == r.probed_at


def test_concurrent_first_open_migrates_once(tmp_path: Path) -> None:
    db = str(tmp_path / "new.db")
    code = "import sys; from vmplatform.fleet.store import Store; Store.open(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, db], stderr=subprocess.PIPE) for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with Store.open(db) as store:
        assert store.count_reports() == 0
