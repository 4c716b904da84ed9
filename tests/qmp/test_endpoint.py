"""The QMP endpoint in front of a real QEMU 10, driven by the real qemu.qmp client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.model.virtio_bits import bits_to_mask, decode_status_features
from vmplatform.qmp.endpoint import Endpoint, Runstate
from vmplatform.qmp.local import LocalCommands
from vmplatform.resolution.support import evaluate

from ._support import NET0, Qemu, RawClient, endpoint, qmp_client, run
from .conftest import PLATFORM

pytestmark = [pytest.mark.qemu, pytest.mark.root]

NEEDS_CAPS = {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}


async def _direct_greeting(path: str) -> dict[str, Any]:
    raw = await RawClient.connect(path)
    await raw.close()
    return raw.greeting


def test_greeting_carries_qemus_version_without_oob(qemu: Qemu, local: LocalCommands) -> None:
    async def body() -> None:
        direct = await _direct_greeting(qemu.direct)
        async with endpoint(qemu, local):
            ours = await _direct_greeting(qemu.listen)
            async with qmp_client(qemu.listen) as client:
                assert client.greeting is not None
                assert client.greeting.QMP.version["qemu"]["major"] == 10
        assert ours["QMP"]["version"] == direct["QMP"]["version"]
        # Out-of-band execution is not passed through, so it is not offered.
        assert ours["QMP"]["capabilities"] == [c for c in direct["QMP"]["capabilities"] if c != "oob"]

    run(body())


def test_passthrough_returns_what_qemu_returns(qemu: Qemu, local: LocalCommands) -> None:
    async def body() -> None:
        async with endpoint(qemu, local), qmp_client(qemu.listen) as via, qmp_client(qemu.direct) as direct:
            for command in ("query-status", "query-version", "query-name", "query-machines"):
                assert await via.execute(command) == await direct.execute(command), command
            args = {"path": NET0}
            assert await via.execute("x-query-virtio-status", args) == \
                await direct.execute("x-query-virtio-status", args)
            # Errors pass through too, with their class.
            from qemu.qmp import ExecuteError

            with pytest.raises(ExecuteError) as exc:
                await via.execute("x-query-virtio-status", {"path": "/nonexistent"})
            with pytest.raises(ExecuteError) as ref:
                await direct.execute("x-query-virtio-status", {"path": "/nonexistent"})
            assert exc.value.error_class == ref.value.error_class
            assert str(exc.value) == str(ref.value)

    run(body())


def test_large_reply_passes_through_intact(qemu: Qemu, local: LocalCommands) -> None:
    async def body() -> None:
        async with endpoint(qemu, local), qmp_client(qemu.listen) as via, qmp_client(qemu.direct) as direct:
            assert await via.execute("query-qmp-schema") == await direct.execute("query-qmp-schema")

    run(body())


def test_query_platforms_equals_cli_json(qemu: Qemu, local: LocalCommands) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VMPLATFORM_PATH"}
    cli = subprocess.run([sys.executable, "-m", "vmplatform", "query-platforms", "--json"],
                         check=True, capture_output=True, text=True, env=env)
    expected = json.loads(cli.stdout)

    async def body() -> None:
        async with endpoint(qemu, local), qmp_client(qemu.listen) as client:
            assert await client.execute("query-platforms") == expected

    run(body())


def test_query_platform_dependencies_reads_net0(qemu: Qemu, local: LocalCommands,
                                                 host_report: HostReport) -> None:
    async def body() -> None:
        async with endpoint(qemu, local), qmp_client(qemu.listen) as client, \
                qmp_client(qemu.direct) as direct:
            deps: Any = await client.execute("query-platform-dependencies")
            status: Any = await direct.execute("x-query-virtio-status", {"path": NET0})
        assert deps["platform"] == PLATFORM
        [net0] = deps["devices"]
        assert net0["path"] == NET0 and net0["name"] == "virtio-net"
        assert net0["host-features"] == hex(bits_to_mask(decode_status_features(status["host-features"])))
        assert net0["guest-features"] == "0x0"        # -S: no guest driver yet
        assert net0["negotiated-features"] == []
        offered = set(net0["offered-features"])
        for fid in ("tap-vnet-hdr", "tap-uso"):
            supported = host_report.status(fid) is FeatureStatus.SUPPORTED
            assert (fid in offered) == supported, f"{fid}: probe says {host_report.status(fid).value}"
        # No vhost on this NIC: vhost-only features are not dependencies.
        assert "vhost-net-ring-reset" not in offered
        assert offered <= set(default_catalog().ids())

    run(body())


def test_query_platform_dependencies_platform_unknown(qemu: Qemu, host_report: HostReport) -> None:
    platforms = load_platforms()
    anonymous = LocalCommands(evaluate(host_report, platforms), platforms.catalog, None)

    async def body() -> None:
        async with endpoint(qemu, anonymous), qmp_client(qemu.listen) as client:
            deps: Any = await client.execute("query-platform-dependencies")
        assert deps["platform"] is None

    run(body())


def test_query_commands_lists_local_commands(qemu: Qemu, local: LocalCommands) -> None:
    async def body() -> None:
        async with endpoint(qemu, local), qmp_client(qemu.listen) as via, qmp_client(qemu.direct) as direct:
            ours: Any = await via.execute("query-commands")
            theirs: Any = await direct.execute("query-commands")
        assert ours[:len(theirs)] == theirs
        assert ours[len(theirs):] == [{"name": "query-platforms"}, {"name": "query-platform-dependencies"}]

    run(body())


def test_local_commands_reject_arguments(qemu: Qemu, local: LocalCommands) -> None:
    async def body() -> None:
        async with endpoint(qemu, local):
            raw = await RawClient.connect(qemu.listen, negotiate=True)
            for command in ("query-platforms", "query-platform-dependencies"):
                msg = json.dumps({"execute": command, "arguments": {"x": 1}, "id": 7}).encode() + b"\n"
                assert await raw.execute(msg) == {
                    "id": 7, "error": {"class": "GenericError", "desc": "Parameter 'x' is unexpected"}}
            await raw.close()

    run(body())


def test_events_reach_every_client(qemu: Qemu, local: LocalCommands) -> None:
    async def next_event(client: Any, name: str) -> Any:
        while True:
            event = await asyncio.wait_for(client.events.get(), 10)
            if event["event"] == name:
                return event

    async def body() -> None:
        async with endpoint(qemu, local), qmp_client(qemu.listen, "a") as a, qmp_client(qemu.listen, "b") as b:
            raw = await RawClient.connect(qemu.listen)  # not negotiated: must get no events
            await a.execute("cont")
            for client in (a, b):
                await next_event(client, "RESUME")
            await b.execute("stop")
            for client in (a, b):
                assert (await next_event(client, "STOP"))["event"] == "STOP"
            assert await raw.execute(b'{"execute": "query-status"}\n') == {"error": NEEDS_CAPS}
            await raw.close()

    run(body())


def test_two_clients_many_commands_in_flight(qemu: Qemu, local: LocalCommands) -> None:
    async def hammer(client: Any, n: int) -> None:
        commands = ["query-status", "query-platforms", "query-version", "query-name"] * n
        replies = await asyncio.gather(*(client.execute(c) for c in commands))
        for command, reply in zip(commands, replies, strict=True):
            if command == "query-status":
                assert reply["status"] == "prelaunch"  # QEMU started with -S, and nobody sends cont
            elif command == "query-platforms":
                assert isinstance(reply, list) and reply
            elif command == "query-version":
                assert reply["qemu"]["major"] == 10
            else:
                assert reply == {}

    async def body() -> None:
        async with endpoint(qemu, local) as ep, qmp_client(qemu.listen, "a") as a, qmp_client(qemu.listen, "b") as b:
            await asyncio.gather(hammer(a, 50), hammer(b, 50))
            assert ep.clients == 2

    run(body())


def test_replies_keep_request_order_without_ids(qemu: Qemu, local: LocalCommands) -> None:
    """A locally answered command does not overtake a forwarded one sent before it."""
    async def body() -> None:
        async with endpoint(qemu, local):
            raw = await RawClient.connect(qemu.listen, negotiate=True)
            await raw.send(b'{"execute": "query-qmp-schema"}\n{"execute": "query-platforms"}\n'
                           b'{"execute": "query-status"}\n{"execute": "query-platform-dependencies"}\n'
                           b'{"execute": "query-name"}\n')
            replies = [await raw.recv() for _ in range(5)]
            await raw.close()
        assert all("id" not in r for r in replies)
        schema, platforms, status, deps, name = (r["return"] for r in replies)
        assert isinstance(schema, list) and any(e.get("name") == "query-status" for e in schema)
        assert isinstance(platforms, list) and {"name", "supported", "is-default"} <= set(platforms[0])
        assert status["status"] == "prelaunch"
        assert deps["devices"][0]["path"] == NET0
        assert name == {}

    run(body())


def test_client_leaving_mid_command_disturbs_nobody(qemu: Qemu, local: LocalCommands) -> None:
    async def body() -> None:
        async with endpoint(qemu, local) as ep, qmp_client(qemu.listen) as steady:
            for _ in range(5):
                quitter = await RawClient.connect(qemu.listen, negotiate=True)
                # A big reply in flight, a local one waiting behind it, half a command: then gone.
                await quitter.send(b'{"execute": "query-qmp-schema", "id": 1}\n'
                                   b'{"execute": "query-platform-dependencies", "id": 2}\n{"execute": "quer')
                await quitter.close()
                assert (await steady.execute("query-status"))["status"] == "prelaunch"
            half = await RawClient.connect(qemu.listen)
            half.writer.write_eof()  # half-close before negotiating: closed by the endpoint
            assert await half.reader.read() == b""
            await half.close()
            await asyncio.sleep(0.1)
            assert ep.clients == 1
            assert ep.runstate is Runstate.RUNNING
            async with qmp_client(qemu.listen) as late:
                assert (await late.execute("query-version"))["qemu"]["major"] == 10

    run(body())


def test_half_closed_client_still_gets_its_replies(qemu: Qemu, local: LocalCommands) -> None:
    """Like `echo '...' | socat - UNIX:...`: commands, then EOF, then read the answers."""
    async def body() -> None:
        async with endpoint(qemu, local):
            raw = await RawClient.connect(qemu.listen)
            await raw.send(b'{"execute": "qmp_capabilities"}\n{"execute": "query-status", "id": "s"}\n'
                           b'{"execute": "query-platforms", "id": "p"}\n')
            raw.writer.write_eof()
            lines = (await asyncio.wait_for(raw.reader.read(), 10)).splitlines()
            await raw.close()
        replies = [json.loads(line) for line in lines]
        assert [r.get("id") for r in replies] == [None, "s", "p"]

    run(body())


def test_garbage_gets_qmp_errors_and_the_connection_survives(qemu: Qemu, local: LocalCommands) -> None:
    def generic(desc: str, **extra: Any) -> dict[str, Any]:
        return {**extra, "error": {"class": "GenericError", "desc": desc}}

    cases: list[tuple[bytes, dict[str, Any]]] = [
        (b"garbage\n", generic("JSON parse error, invalid keyword 'garbage'")),
        (b"\xff\xfe\x00\n", generic("JSON parse error, stray '\ufffd'")),
        (b'{"execute": }\n', generic("JSON parse error, expecting value")),
        (b"}\n", generic("JSON parse error, expecting value")),
        (b"[1, 2]\n", generic("QMP input must be a JSON object")),
        (b'"query-status"\n', generic("QMP input must be a JSON object")),
        (b'{"id": 4}\n', generic("QMP input lacks member 'execute'", id=4)),
        (b'{"execute": 1, "id": 5}\n', generic("QMP input member 'execute' must be a string", id=5)),
        (b'{"execute": "query-status", "arguments": [], "id": 6}\n',
         generic("QMP input member 'arguments' must be an object", id=6)),
        (b'{"execute": "query-status", "bogus": 1}\n', generic("QMP input member 'bogus' is unexpected")),
        (b'{"exec-oob": "query-status", "id": 8}\n', generic("QMP input member 'exec-oob' is unexpected", id=8)),
        (b'{"execute": "query-status", "id": 1, "id": 2}\n', generic("JSON parse error, duplicate key")),
        (b'{"execute": "nonsense", "id": 9}\n',
         {"id": 9, "error": {"class": "CommandNotFound", "desc": "The command nonsense has not been found"}}),
    ]

    async def body() -> None:
        async with endpoint(qemu, local) as ep:
            raw = await RawClient.connect(qemu.listen, negotiate=True)
            direct = await RawClient.connect(qemu.direct, negotiate=True)
            for data, expected in cases:
                assert await raw.execute(data) == expected, data
                if b"nonsense" in data or b"\x00" not in data:
                    # Same answer as QEMU itself (QEMU reports each bad byte; we report the run once).
                    assert await direct.execute(data) == expected, data
            assert (await raw.execute(b'{"execute": "query-status", "id": 10}\n'))["id"] == 10
            await raw.close()
            await direct.close()
            assert ep.runstate is Runstate.RUNNING

    run(body())


def test_what_qemu_cannot_parse_is_answered_not_lost(qemu: Qemu, local: LocalCommands) -> None:
    """QEMU answers an unparsable request without an id; the endpoint never lets it reach QEMU."""
    async def body() -> None:
        async with endpoint(qemu, local):
            raw = await RawClient.connect(qemu.listen, negotiate=True)
            reply = await raw.execute(b'{"execute": "human-monitor-command", "id": 1, '
                                      b'"arguments": {"command-line": "\\ud800"}}\n')
            assert reply == {"id": 1, "error": {"class": "GenericError",
                                                "desc": "JSON parse error, \\ud800 is not a valid Unicode character"}}
            reply = await raw.execute(b'{"execute": "query-status", "id": 2, "arguments": {"x": 1e400}}\n')
            assert reply == {"error": {"class": "GenericError",   # a parse error: no id, as from QEMU
                                       "desc": "JSON parse error, number 1e400 is out of range"}}
            assert (await raw.execute(b'{"execute": "query-status", "id": 3}\n'))["id"] == 3
            await raw.close()

    run(body())


def test_capabilities_negotiation_is_required(qemu: Qemu, local: LocalCommands) -> None:
    async def body() -> None:
        async with endpoint(qemu, local):
            raw = await RawClient.connect(qemu.listen)
            assert await raw.execute(b'{"execute": "query-status"}\n') == {"error": NEEDS_CAPS}
            assert await raw.execute(b'{"execute": "query-platforms", "id": "x"}\n') == {"id": "x", "error": NEEDS_CAPS}
            assert await raw.execute(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}\n') == {
                "error": {"class": "GenericError", "desc": "Capability oob not available"}}
            assert await raw.execute(b'{"execute": "qmp_capabilities", "id": 1}\n') == {"return": {}, "id": 1}
            assert await raw.execute(b'{"execute": "qmp_capabilities", "id": 2}\n') == {"id": 2, "error": {
                "class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}}
            assert (await raw.execute(b'{"execute": "query-status"}\n'))["return"]["status"] == "prelaunch"
            await raw.close()

    run(body())


def test_ids_are_echoed_exactly(qemu: Qemu, local: LocalCommands) -> None:
    ids: list[Any] = ["x", "__qmp#00001", "", 0, -3, 2**80, 1.5, True, None, [1, {"a": "b"}], {"n": [None]},
                      "\u00e9\U0001f600", 'quote " and , "id": 9}']

    async def body() -> None:
        async with endpoint(qemu, local):
            raw = await RawClient.connect(qemu.listen, negotiate=True)
            for rid in ids:
                for command in ("query-status", "query-platforms", "nonsense"):
                    reply = await raw.execute(json.dumps({"execute": command, "id": rid}).encode() + b"\n")
                    assert "id" in reply and reply["id"] == rid and type(reply["id"]) is type(rid), (command, rid)
            reply = await raw.execute(b'{"execute": "query-status"}\n')
            assert "id" not in reply
            # QEMU's own single-quoted strings work too.
            assert (await raw.execute(b"{'execute': 'query-status', 'id': 'it\\'s'}\n"))["id"] == "it's"
            await raw.close()

    run(body())


def test_endpoint_stops_when_qemu_quits(qemu: Qemu, local: LocalCommands) -> None:
    async def body() -> None:
        from qemu.qmp import QMPClient

        ep = Endpoint(qemu.upstream, qemu.listen, local)
        await ep.start()
        client = QMPClient("quitter")
        try:
            await client.connect(qemu.listen)
            raw = await RawClient.connect(qemu.listen, negotiate=True)
            assert await client.execute("quit") == {}
            await asyncio.wait_for(ep.wait_closed(), 10)
            assert ep.runstate is Runstate.STOPPED
            rest = await asyncio.wait_for(raw.reader.read(), 10)   # everything owed, then EOF
            assert b'"event": "SHUTDOWN"' in rest
            await raw.close()
        finally:
            try:
                await client.disconnect()
            except EOFError:
                pass  # QEMU went away: qemu.qmp reports the EOF, as it does talking to QEMU directly
            await ep.stop()
        assert not os.path.exists(qemu.listen)
        assert qemu.proc.wait(10) == 0

    run(body())
