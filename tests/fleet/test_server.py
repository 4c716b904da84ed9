"""The HTTP endpoint: a real 'vmplatform fleet serve' process (uvicorn) on a loopback port, real HTTP
clients over the socket: urllib (what 'fleet report' uses) and raw http.client for malformed requests."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmplatform.fleet.store import Store

from .conftest import HOSTS

pytest.importorskip("uvicorn", reason="the fleet extra (uvicorn) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, db: str, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.db, self.port, self.proc = db, port, proc
        self.url = f"http://127.0.0.1:{port}"

    def request(self, body: bytes, token: str | None, method: str = "POST", path: str = "/v1/reports",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, json.loads(data) if data else {}


@pytest.fixture
def server(db_url: str) -> Iterator[Server]:
    with Store.open(db_url):
        pass  # create the schema before the server starts
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vmplatform", "fleet", "serve", "--db", db_url,
                             "--listen", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out, err = proc.communicate()
                pytest.fail(f"fleet serve did not come up: {err.decode()}")
            time.sleep(0.1)
    try:
        yield Server(db_url, port, proc)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _report(name: str, hostname: str | None = None) -> bytes:
    obj = json.loads((HOSTS / f"{name}.json").read_text())
    if hostname:
        obj["host"]["hostname"] = hostname
    return json.dumps(obj).encode()


def test_endpoint_authenticates_and_refuses(server: Server) -> None:
    with Store.open(server.db) as store:
        tok_el9 = store.issue_token("el9-5.14")
        tok_el8 = store.issue_token("el8-4.18")
    ok = _report("el9-5.14")
    assert server.request(ok, None)[0] == 401
    status, body = server.request(ok, "not-a-token")
    assert status == 401 and body["error"]["desc"] == "unknown token"          # type: ignore[index]
    status, body = server.request(ok, tok_el8)                                  # el8's token, el9's report
    assert status == 403
    assert "reports for host 'el8-4.18', not for 'el9-5.14'" in body["error"]["desc"]  # type: ignore[index]
    status, body = server.request(b'{"schema": "vmplatform/host-report/1", "host": ', tok_el9)
    assert status == 400 and "truncated JSON" in body["error"]["desc"]          # type: ignore[index]
    status, body = server.request(b"\xff\xfe", tok_el9)
    assert status == 400 and "not UTF-8" in body["error"]["desc"]               # type: ignore[index]
    status, body = server.request(json.dumps({"schema": "vmplatform/host-report/7"}).encode(), tok_el9)
    assert status == 400 and "newer vmplatform" in body["error"]["desc"]        # type: ignore[index]
    status, _ = server.request(b"x" * ((1 << 20) + 1), tok_el9)
    assert status == 413
    assert server.request(b"", tok_el9, method="GET")[0] == 405
    # Nothing refused reached the store; the good report does.
    with Store.open(server.db) as store:
        assert store.count_reports() == 0
    status, body = server.request(ok, tok_el9)
    assert status == 201 and body["host"] == "el9-5.14"
    with Store.open(server.db) as store:
        assert [h.name for h in store.hosts()] == ["el9-5.14"]
    # A reissued token replaces the old one.
    with Store.open(server.db) as store:
        tok_new = store.issue_token("el9-5.14")
    assert server.request(ok, tok_el9)[0] == 401
    assert server.request(ok, tok_new)[0] == 201


def test_fleet_report_posts(server: Server, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    with Store.open(server.db) as store:
        token = store.issue_token("debian13-6.12")
    tok = tmp_path / "token"
    tok.write_text(token + "\n")
    state = tmp_path / "state"
    argv = ["fleet", "report", "--to", server.url, "--token-file", str(tok),
            "--host", str(HOSTS / "debian13-6.12.json"), "--if-changed", str(state)]
    rc, out, err = run_cli(argv)
    assert rc == 0 and "posted report of debian13-6.12" in out, err
    rc, out, err = run_cli(argv)
    assert rc == 0 and "unchanged since the last post; not sent" in err
    with Store.open(server.db) as store:
        assert store.count_reports() == 1
    rc, _, err = run_cli(["fleet", "report", "--to", server.url, "--token-file", str(tok),
                          "--host", str(HOSTS / "el8-4.18.json")])
    assert rc == 1 and "HTTP 403" in err and "not for 'el8-4.18'" in err
    rc, _, err = run_cli(["fleet", "report", "--to", f"http://127.0.0.1:{_free_port()}", "--token-file",
                          str(tok), "--host", str(HOSTS / "el8-4.18.json")])
    assert rc == 1 and "cannot reach" in err
    assert "Traceback" not in err and os.environ.get("VMPLATFORM_DEBUG") != "1"
