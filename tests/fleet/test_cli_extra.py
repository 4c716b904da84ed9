"""fleet add from stdin and with a progress bar; the contrib systemd units call options that exist."""

from __future__ import annotations

import configparser
import io
import shlex
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

from .conftest import HOSTS

CONTRIB = Path(__file__).parent.parent.parent / "contrib" / "systemd"


def test_add_from_stdin_concatenated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "".join(f.read_text() for f in sorted(HOSTS.glob("*.json"))) + '{"schema": "vmplatform/host-report/1"'
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    rc, out, err = run_cli(["fleet", "add", "--db", str(tmp_path / "f.db"), "-"])
    n = len(list(HOSTS.glob("*.json")))
    assert rc == 1 and f"added {n} report(s)" in out
    assert f"refused <stdin> (document {n + 1}): truncated JSON" in err


def test_add_progress_bar(tmp_path: Path) -> None:
    rc, out, err = run_cli(["fleet", "add", "--db", str(tmp_path / "f.db"), "--progress", str(HOSTS)])
    assert rc == 0
    n = len(list(HOSTS.glob("*.json")))
    assert "fleet add" in err and f"{n}/{n}" in err and "100%" in err


def test_history_text_flags_the_downgrade(tmp_path: Path) -> None:
    import json

    db = str(tmp_path / "f.db")
    for i, src in enumerate(["debian13-6.12", "debian12-6.1"]):
        obj = json.loads((HOSTS / f"{src}.json").read_text())
        obj["host"]["hostname"] = "h1"
        obj["probed-at"] = f"2026-01-0{i + 1}T00:00:00Z"
        (tmp_path / f"{i}.json").write_text(json.dumps(obj))
    assert run_cli(["fleet", "add", "--db", db, str(tmp_path / "0.json"), str(tmp_path / "1.json")])[0] == 0
    rc, out, err = run_cli(["fleet", "history", "--db", db, "h1", "--manifest",
                            str(HOSTS.parent / "manifests" / "debian13-6.12-host.json")])
    assert rc == 0, err
    flagged = [line for line in out.splitlines() if line.startswith("!!")]
    assert len(flagged) == 1 and "(downgrade)" in flagged[0]
    assert "LOST:" in out and "tap-uso" in out and "breaks VM debian13-6.12-host" in out


def test_systemd_units_call_real_options(tmp_path: Path) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(CONTRIB / "vmplatform-fleet-report.service")
    argv = shlex.split(unit["Service"]["ExecStart"].replace("${FLEET_URL}", "http://127.0.0.1:1"))
    assert argv[0].endswith("/vmplatform") and argv[1:3] == ["fleet", "report"]
    from vmplatform.cli._parser import Parser
    from vmplatform.cli.fleet import add_arguments

    p = Parser(prog="vmplatform fleet")
    add_arguments(p)
    ns = p.parse_args(argv[2:])
    assert ns.fleet_command == "report" and ns.if_changed is not None and str(ns.token_file).startswith("/etc/")
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.read(CONTRIB / "vmplatform-fleet-report.timer")
    assert timer["Timer"]["OnBootSec"] and timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.parametrize(("argv", "code", "message"), [
    # the command line: a value an option cannot take
    (["merge", "--name", "rack 12"], 2, "platform name 'rack 12' has characters outside"),
    (["plan", "el9-5.14", "--to", "el9-5.14"], 2, "fleet plan needs at least one destination"),
    (["upgrade-impact", "--group", "g", "--kernel", "not-a-release"], 2, "'not-a-release' is not a kernel release"),
    (["place", "--limit", "-1", "x.json"], 2, "--limit must be 0 or more"),
    (["serve", "--listen", "nope"], 2, "--listen 'nope' is not ADDR:PORT"),
    (["serve", "--listen", "127.0.0.1:99999"], 2, "--listen '127.0.0.1:99999' is not ADDR:PORT (a port of 0 to 65535)"),
    # what the command line names is not in the store
    (["plan", "no-such-host", "--to", "el9-5.14"], 1, "no host 'no-such-host' in the fleet store"),
])
def test_exit_code_says_whose_the_mistake_is(tmp_path: Path, argv: list[str], code: int, message: str) -> None:
    db = str(tmp_path / "f.db")
    assert run_cli(["fleet", "add", "--db", db, "--no-progress", str(HOSTS)])[0] == 0
    if argv[0] == "upgrade-impact":
        assert run_cli(["fleet", "label", "--db", db, "g", "el9-5.14"])[0] == 0
    rc, _, err = run_cli(["fleet", argv[0], "--db", db, *argv[1:]])
    assert (rc, "Traceback" in err) == (code, False), err
    assert message in err, err
