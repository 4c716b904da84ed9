"""Reply ids through the endpoint, per the QMP specification.

Source: QEMU docs/interop/qmp-spec.rst, "Commands Responses": the ``id``
member of a response is "the same value" the client sent in its command,
and is present only if the command had one. The endpoint sends its own
integer ids upstream; none may reach a client that sent no id, on any of
the reply paths: spliced bytes (id first or last), a reply it parses
(an unusual shape), or one it rewrites (``query-commands`` gets the local
commands added).

A scripted monitor gives every shape; the real QEMU 10 run checks the same
on the replies QEMU really writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.requirements import missing_qemu, missing_qmp_library, missing_root, missing_tun, skip_unless
from tests.qmp._support import Qemu, RawClient, endpoint, run
from tests.qmp.test_endpoint_fake_qemu import local, serving  # noqa: F401  (fixture)
from vmplatform.qmp.local import LocalCommands

COMMANDS = [{"name": "query-status"}, {"name": "query-commands"}]


def shapes(request: dict[str, Any]) -> list[bytes]:
    """Every reply shape QEMU may write, chosen by the command name."""
    upid, name = request["id"], request["execute"]
    if name == "query-commands":
        return [json.dumps({"return": COMMANDS, "id": upid}).encode() + b"\r\n"]
    if name == "id-first":
        return [b'{"id": %d, "error": {"class": "GenericError", "desc": "no"}}\r\n' % upid]
    if name == "spaced":   # neither splice shape: parsed and re-addressed
        return [b'{ "return" : {"x": 1} , "id" : %d }\r\n' % upid]
    return [json.dumps({"return": {"status": "running"}, "id": upid}).encode() + b"\r\n"]


@pytest.mark.parametrize("command,reply", [
    ("query-status", {"return": {"status": "running"}}),
    ("id-first", {"error": {"class": "GenericError", "desc": "no"}}),
    ("spaced", {"return": {"x": 1}}),
    ("query-commands", {"return": [*COMMANDS, {"name": "query-platforms"},
                                   {"name": "query-platform-dependencies"}]}),
])
def test_idless_command_gets_an_idless_reply(tmp_path: Path, local: LocalCommands,  # noqa: F811
                                             command: str, reply: dict[str, Any]) -> None:
    async def body() -> None:
        async with serving(tmp_path, local, shapes):
            raw = await RawClient.connect(str(tmp_path / "ep.sock"), negotiate=True)
            got = await raw.execute(json.dumps({"execute": command}).encode() + b"\n")
            with_id = await raw.execute(json.dumps({"execute": command, "id": "mine"}).encode() + b"\n")
            await raw.close()
        assert got == reply
        assert with_id == {**reply, "id": "mine"}

    run(body())


@pytest.fixture()
def qemu() -> Iterator[Qemu]:
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library)
    q = Qemu()
    try:
        yield q
    finally:
        q.close()


@pytest.mark.qemu
@pytest.mark.root
@pytest.mark.qemu
def test_real_qemu_idless_query_commands(qemu: Qemu, local: LocalCommands) -> None:  # noqa: F811
    async def body() -> None:
        async with endpoint(qemu, local):
            raw = await RawClient.connect(qemu.listen, negotiate=True)
            for command in (b'{"execute": "query-commands"}\n', b'{"execute": "query-version"}\n'):
                reply = await raw.execute(command)
                assert set(reply) == {"return"}, reply
            names = {c["name"] for c in (await raw.execute(b'{"execute": "query-commands"}\n'))["return"]}
            await raw.close()
        assert {"query-platforms", "query-platform-dependencies", "query-status"} <= names

    run(body())
