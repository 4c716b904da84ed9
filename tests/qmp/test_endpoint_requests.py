"""What the endpoint answers itself, and what it passes to QEMU, against a scripted monitor.

No QEMU needed: the monitor of test_endpoint_fake_qemu.py answers every
command it gets with an empty ``return`` (or what a test scripts).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.qmp._support import RawClient, run
from tests.qmp.test_endpoint_fake_qemu import local, ok, serving  # noqa: F401  (fixture)
from vmplatform.qmp import protocol as P
from vmplatform.qmp.local import LocalCommands


def gerror(desc: str) -> dict[str, str]:
    return {"class": "GenericError", "desc": desc}


def sent_to_qemu(requests: list[dict[str, Any]], execute: str) -> list[dict[str, Any]]:
    return [r for r in requests if r["execute"] == execute]


def test_negotiation_is_answered_here(tmp_path: Path, local: LocalCommands) -> None:  # noqa: F811
    async def body() -> None:
        async with serving(tmp_path, local) as (monitor, ep):
            raw = await RawClient.connect(str(tmp_path / "ep.sock"))
            assert await raw.execute(b'{"execute": "query-status", "id": "a"}\n') == \
                {"id": "a", "error": {"class": "CommandNotFound", "desc": P.NEEDS_NEGOTIATION}}
            assert await raw.execute(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, '
                                     b'"id": "b"}\n') == {"id": "b", "error": gerror("Capability oob not available")}
            assert await raw.execute(b'{"execute": "qmp_capabilities", "id": "c"}\n') == {"return": {}, "id": "c"}
            assert await raw.execute(b'{"execute": "qmp_capabilities", "id": "d"}\n') == \
                {"id": "d", "error": {"class": "CommandNotFound", "desc": P.ALREADY_NEGOTIATED}}
            await raw.close()
            assert sent_to_qemu(monitor.requests, "query-status") == []

    run(body())


def test_malformed_requests_are_answered_here(tmp_path: Path, local: LocalCommands) -> None:  # noqa: F811
    async def body() -> None:
        async with serving(tmp_path, local) as (monitor, ep):
            raw = await RawClient.connect(str(tmp_path / "ep.sock"), negotiate=True)
            before = len(monitor.requests)
            assert await raw.execute(b'{"execute": }\n') == {"error": gerror("JSON parse error, expecting value")}
            assert await raw.execute(b'{"execute": 1, "id": [1]}\n') == \
                {"id": [1], "error": gerror("QMP input member 'execute' must be a string")}
            assert await raw.execute(b'{"execute": 1}\n') == \
                {"error": gerror("QMP input member 'execute' must be a string")}
            # QEMU could not parse this one (a lone surrogate); its answer would have no id
            assert await raw.execute(b'{"execute": "qom-get", "arguments": {"path": "\\ud800"}, "id": 8}\n') == \
                {"id": 8, "error": gerror("JSON parse error, \\ud800 is not a valid Unicode character")}
            await raw.close()
            assert monitor.requests[before:] == []

    run(body())


def test_local_commands_are_answered_here(tmp_path: Path, local: LocalCommands) -> None:  # noqa: F811
    async def body() -> None:
        async with serving(tmp_path, local) as (monitor, ep):
            raw = await RawClient.connect(str(tmp_path / "ep.sock"), negotiate=True)
            before = len(monitor.requests)
            assert await raw.execute(b'{"execute": "query-platforms", "id": 5}\n') == \
                {"return": json.loads(local.platforms_json), "id": 5}
            assert await raw.execute(b'{"execute": "query-platforms", "arguments": {"x": 1}, "id": 6}\n') == \
                {"id": 6, "error": gerror("Parameter 'x' is unexpected")}
            assert await raw.execute(b'{"execute": "query-platform-dependencies", "arguments": {"y": 1}, '
                                     b'"id": 7}\n') == {"id": 7, "error": gerror("Parameter 'y' is unexpected")}
            await raw.close()
            assert monitor.requests[before:] == []
            assert not ep._tasks               # the answering task is forgotten once done

    run(body())


def test_forwarded_replies_keep_qemus_bytes(tmp_path: Path, local: LocalCommands) -> None:  # noqa: F811
    """Only query-commands is rewritten; any other reply is QEMU's text with the client's id."""
    def script(request: dict[str, Any]) -> list[bytes]:
        if request["execute"] == "qom-get":
            return [b'{"return": "caf\xc3\xa9", "id": %d}\r\n' % request["id"]]
        return ok(request)

    async def body() -> None:
        async with serving(tmp_path, local, script):
            raw = await RawClient.connect(str(tmp_path / "ep.sock"), negotiate=True)
            await raw.send(b'{"execute": "qom-get", "arguments": {"path": "/", "property": "x"}, "id": "q"}\n')
            assert await asyncio.wait_for(raw.reader.readline(), 10) == b'{"return": "caf\xc3\xa9", "id": "q"}\r\n'
            await raw.close()

    run(body())


def test_without_a_hotplug_guard_device_add_goes_to_qemu_as_sent(tmp_path: Path,
                                                                 local: LocalCommands) -> None:  # noqa: F811
    async def body() -> None:
        async with serving(tmp_path, local) as (monitor, ep):
            raw = await RawClient.connect(str(tmp_path / "ep.sock"), negotiate=True)
            args = {"driver": "virtio-net-pci", "id": "n1", "netdev": "h1"}
            assert await raw.execute(json.dumps({"execute": "device_add", "arguments": args,
                                                 "id": "d"}).encode() + b"\n") == {"return": {}, "id": "d"}
            assert [r["arguments"] for r in sent_to_qemu(monitor.requests, "device_add")] == [args]
            await raw.close()

    run(body())


class Guard:
    """A hot-plug guard that pins one property and records the backends it is told about."""

    def __init__(self) -> None:
        self.added: list[Any] = []
        self.deleted: list[Any] = []

    def netdev_added(self, arguments: Mapping[str, Any] | None) -> None:
        self.added.append(arguments)

    def netdev_deleted(self, arguments: Mapping[str, Any] | None) -> None:
        self.deleted.append(arguments)

    async def pin(self, arguments: Mapping[str, Any] | None, execute: Any) -> dict[str, Any]:
        return {**(arguments or {}), "host_uso": False}


def test_with_a_hotplug_guard_device_add_is_pinned_and_netdevs_are_learnt(tmp_path: Path,
                                                                         local: LocalCommands) -> None:  # noqa: F811
    guard = Guard()

    async def body() -> None:
        async with serving(tmp_path, local, hotplug=guard) as (monitor, ep):
            raw = await RawClient.connect(str(tmp_path / "ep.sock"), negotiate=True)
            netdev = {"type": "tap", "id": "h1"}
            assert await raw.execute(json.dumps({"execute": "netdev_add", "arguments": netdev,
                                                 "id": "n"}).encode() + b"\n") == {"return": {}, "id": "n"}
            assert guard.added == [netdev] and guard.deleted == []
            args = {"driver": "virtio-net-pci", "id": "v1", "netdev": "h1"}
            assert await raw.execute(json.dumps({"execute": "device_add", "arguments": args,
                                                 "id": "d"}).encode() + b"\n") == {"return": {}, "id": "d"}
            assert [r["arguments"] for r in sent_to_qemu(monitor.requests, "device_add")] == \
                [{**args, "host_uso": False}]
            assert await raw.execute(b'{"execute": "netdev_del", "arguments": {"id": "h1"}, "id": "x"}\n') == \
                {"return": {}, "id": "x"}
            assert guard.deleted == [{"id": "h1"}]
            assert await raw.execute(b'{"execute": "query-status", "id": "s"}\n') == {"return": {}, "id": "s"}
            assert guard.added == [netdev] and guard.deleted == [{"id": "h1"}]   # not a netdev command
            await raw.close()

    run(body())
