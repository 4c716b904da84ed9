"""'fleet report' without --host: the real probe of this machine, posted to a real 'fleet serve'."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_cli
from vmplatform.fleet.store import Store

from .test_server import Server, server  # noqa: F401  (the fixture)


def test_report_probes_this_host(server: Server, tmp_path: Path) -> None:  # noqa: F811
    me = os.uname().nodename
    with Store.open(server.db) as store:
        token = store.issue_token(me)
    tok = tmp_path / "token"
    tok.write_text(token)
    rc, out, err = run_cli(["fleet", "report", "--to", server.url, "--token-file", str(tok)])
    assert rc == 0, err
    assert f"posted report of {me}" in out
    with Store.open(server.db) as store:
        report = store.latest_report(me)
    assert report.host.kernel_release == os.uname().release
    assert report.results  # every catalog feature probed, as 'vmplatform probe' does
