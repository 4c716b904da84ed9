"""How the one QEMU connection routes what QEMU writes, without QEMU or sockets.

An :class:`Upstream` is handed QEMU's bytes as asyncio would after a read.
Its clients are real :class:`Client` objects whose transport records what
they are sent; a small host records the events it is asked to broadcast.
Covered: ids in and out (spliced and parsed reply shapes), events, replies
to ids nobody waits for, error replies without an id, ids that are not
integers, replies to clients that left, rewritten replies, the endpoint's
own commands, and the replies owed when QEMU goes away.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from vmplatform.qmp import protocol as P
from vmplatform.qmp.client import Client
from vmplatform.qmp.errors import EndpointError
from vmplatform.qmp.upstream import Upstream

ERROR = b'{"class": "GenericError", "desc": "no"}'


class Wire:
    """A transport that keeps every write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class ClientSide:
    """The endpoint as a client sees it."""

    max_client_buffer = 1 << 20
    upstream_paused = False

    def client_connected(self, client: Client) -> None:
        pass

    def client_data(self, client: Client, data: bytes) -> None:
        pass

    def client_gone(self, client: Client, exc: Exception | None) -> None:
        pass


class Host:
    """The endpoint as the upstream connection sees it: events go to every client it holds."""

    def __init__(self) -> None:
        self.events: list[bytes] = []
        self.clients: list[Client] = []
        self.closed: list[Exception | None] = []

    def broadcast_event(self, data: bytes, touched: dict[int, Client]) -> None:
        self.events.append(data)
        for client in self.clients:
            client.event(data)       # queued only: the connection flushes what it touched
            touched[client.number] = client

    def upstream_pause_changed(self, paused: bool) -> None:
        pass

    def upstream_closed(self, exc: Exception | None) -> None:
        self.closed.append(exc)


class Rig:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.host = Host()
        self.up = Upstream(self.host, loop, "qemu.sock", 1.0)
        self.qemu = Wire()
        self.up.connection_made(self.qemu)  # type: ignore[arg-type]
        self.wires: dict[int, Wire] = {}

    def client(self) -> Client:
        number = len(self.wires) + 1
        client = Client(ClientSide(), number, self.loop)
        wire = self.wires[number] = Wire()
        client.connection_made(wire)  # type: ignore[arg-type]
        client.negotiated = True
        self.host.clients.append(client)
        return client

    def forward(self, client: Client, execute: str, rid: bytes | None, transform: Any = None,
                arguments: dict[str, Any] | None = None) -> None:
        self.up.forward(P.Command(execute, arguments, rid is not None, None), client, rid, transform)

    def qemu_writes(self, data: bytes) -> None:
        """QEMU's bytes, as one read."""
        self.up.buffer[:len(data)] = data
        self.up.buffer_updated(len(data))

    def sent(self, client: Client) -> list[Any]:
        return [json.loads(line) for line in self.wires[client.number].data.splitlines()]


@pytest.fixture()
def rig() -> Iterator[Rig]:
    loop = asyncio.new_event_loop()
    try:
        yield Rig(loop)
    finally:
        loop.close()


def test_each_command_goes_up_under_a_fresh_integer_id(rig: Rig) -> None:
    a, b = rig.client(), rig.client()
    rig.forward(a, "query-status", b'"x"')
    rig.forward(b, "query-kvm", None)
    rig.forward(a, "qom-list", b"7", arguments={"path": "/machine"})
    assert rig.qemu.writes == []          # queued until the batch is flushed
    rig.up.flush()
    assert rig.qemu.writes == [b'{"execute": "query-status", "id": 1}\r\n'
                               b'{"execute": "query-kvm", "id": 2}\r\n'
                               b'{"execute": "qom-list", "id": 3, "arguments": {"path": "/machine"}}\r\n']
    rig.forward(b, "cont", None)
    rig.up.flush()
    assert rig.qemu.writes[1:] == [b'{"execute": "cont", "id": 4}\r\n']


def test_replies_come_back_under_the_clients_own_ids_in_request_order(rig: Rig) -> None:
    a, b = rig.client(), rig.client()
    rig.forward(a, "query-status", b'"x"')
    rig.forward(b, "query-kvm", None)
    rig.forward(a, "stop", b'{"n": [1]}')
    rig.forward(b, "cont", b"5")
    # Out of order, both shapes QEMU writes (id last, id first), each client's ids differ.
    rig.qemu_writes(b'{"id": 3, "error": ' + ERROR + b'}\r\n'
                    b'{"return": {"status": "running"}, "id": 1}\r\n'
                    b'{"id": 2, "error": ' + ERROR + b'}\r\n'
                    b'{"return": {}, "id": 4}\r\n')
    # Byte for byte: the ids are spliced in, the rest is QEMU's text.
    assert rig.wires[1].writes == [b'{"return": {"status": "running"}, "id": "x"}\r\n'
                                   b'{"id": {"n": [1]}, "error": ' + ERROR + b'}\r\n']
    assert rig.wires[2].writes == [b'{"error": ' + ERROR + b'}\r\n{"return": {}, "id": 5}\r\n']


def test_an_idless_command_gets_an_idless_reply_in_either_shape(rig: Rig) -> None:
    a = rig.client()
    rig.forward(a, "query-status", None)
    rig.forward(a, "stop", None)
    rig.qemu_writes(b'{"return": {"status": "running"}, "id": 1}\r\n{"id": 2, "error": ' + ERROR + b'}\r\n')
    assert rig.wires[1].data == b'{"return": {"status": "running"}}\r\n{"error": ' + ERROR + b'}\r\n'


def test_spliced_replies_keep_qemus_bytes(rig: Rig) -> None:
    """The fast path copies QEMU's text (here raw UTF-8, which re-encoding would escape)."""
    a = rig.client()
    rig.forward(a, "qom-get", b"1")
    rig.qemu_writes('{"return": "é", "id": 1}\r\n'.encode())
    assert rig.wires[1].data == '{"return": "é", "id": 1}\r\n'.encode()


def test_line_ends_and_blank_lines(rig: Rig) -> None:
    a = rig.client()
    for n in range(3):
        rig.forward(a, "query-status", b"%d" % (10 + n))
    rig.qemu_writes(b'\r\n{"return": "\xc3\xa9", "id": 1}\r\n\r\n\n{"return": 2, "id": 2}\n'
                    b'{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "STOP"}\r\n'
                    b'{"return": 3, "id": 3}')
    assert rig.wires[1].data == (b'{"return": "\xc3\xa9", "id": 10}\r\n{"return": 2, "id": 11}\r\n'
                                 b'{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "STOP"}\r\n')
    rig.qemu_writes(b"\n")                # the rest of the last line
    assert rig.wires[1].data.endswith(b'{"return": 3, "id": 12}\r\n')


def test_a_reply_in_another_shape_is_parsed_and_readdressed(rig: Rig) -> None:
    a, b = rig.client(), rig.client()
    rig.forward(a, "x", b'"mine"')
    rig.forward(b, "y", None)
    rig.forward(a, "z", b"[3]")
    rig.qemu_writes(b'{ "return" : {"x": 1} , "id" : 1 }\r\n'
                    b'{"return": {}, "id": 2, "extra": true}\r\n'
                    b'{"id": 3 , "error": ' + ERROR + b'}\r\n')
    assert rig.wires[1].data == (b'{"return": {"x": 1}, "id": "mine"}\r\n'
                                 b'{"id": [3], "error": {"class": "GenericError", "desc": "no"}}\r\n')
    assert rig.wires[2].data == b'{"return": {}, "extra": true}\r\n'


def test_events_go_to_the_host_and_are_flushed_with_the_replies(rig: Rig) -> None:
    a = rig.client()
    rig.client()
    rig.forward(a, "stop", b"1")
    stop = b'{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "STOP"}'
    resume = b'{"event": "RESUME", "timestamp": {"seconds": 2, "microseconds": 0}}'
    rig.qemu_writes(stop + b"\r\n" + b'{"return": {}, "id": 1}\r\n' + resume + b"\n")
    assert rig.host.events == [stop + b"\r\n", resume + b"\r\n"]
    assert rig.wires[1].data == stop + b'\r\n{"return": {}, "id": 1}\r\n' + resume + b"\r\n"
    assert rig.wires[2].writes == [stop + b"\r\n" + resume + b"\r\n"]   # one write per read


def test_a_message_with_an_id_is_a_reply_even_if_it_names_an_event(rig: Rig) -> None:
    a = rig.client()
    rig.forward(a, "x", b'"q"')
    rig.qemu_writes(b'{"event": "odd", "id" : 1}\r\n')
    assert rig.host.events == []
    assert rig.sent(a) == [{"event": "odd", "id": "q"}]


def test_replies_nobody_waits_for_are_dropped(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    a = rig.client()
    rig.forward(a, "x", b"1")
    with caplog.at_level(logging.WARNING, "vmplatform.qmp.endpoint"):
        rig.qemu_writes(b'{"return": {}, "id": 99}\r\n'        # spliced shape, unknown id
                        b'{ "return" : {}, "id" : 98 }\r\n'   # parsed shape, unknown id
                        b'{"return": {}, "id": 1}\r\n'
                        b'{"return": {}, "id": 1}\r\n')       # answered already
    assert rig.sent(a) == [{"return": {}, "id": 1}]
    assert [r.getMessage() for r in caplog.records] == [
        "QEMU sent a message nobody waits for; dropped: " + repr(line) for line in
        (b'{"return": {}, "id": 99}', b'{ "return" : {}, "id" : 98 }', b'{"return": {}, "id": 1}')]


def test_ids_that_are_not_integers_match_nothing(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    a = rig.client()
    rig.forward(a, "x", b'"mine"')
    with caplog.at_level(logging.WARNING, "vmplatform.qmp.endpoint"):
        rig.qemu_writes(b'{"return": {}, "id": 1.0}\r\n{"return": {}, "id": [1]}\r\n'
                        b'{"return": {}, "id": "1"}\r\n{"return": {}, "id": {"a": 1}}\r\n')
    assert rig.wires[1].writes == []
    assert len(caplog.records) == 4
    assert all("nobody waits for" in r.getMessage() for r in caplog.records)
    rig.qemu_writes(b'{"return": {}, "id": 1}\r\n')
    assert rig.sent(a) == [{"return": {}, "id": "mine"}]


def test_what_is_not_a_json_object_is_dropped(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    a = rig.client()
    rig.forward(a, "x", b"1")
    junk = b"not json " + b"x" * 300
    with caplog.at_level(logging.WARNING, "vmplatform.qmp.endpoint"):
        rig.qemu_writes(junk + b"\r\n[1, 2]\r\n" + b'"' + b"y" * 300 + b'"\r\n{"return": {}, "id": 1}\r\n')
    assert [r.getMessage() for r in caplog.records] == [
        "QEMU sent something that is not JSON; dropped: " + repr(junk[:200]),
        "QEMU sent a non-object; dropped: " + repr(b"[1, 2]"),
        "QEMU sent a non-object; dropped: " + repr((b'"' + b"y" * 300)[:200])]
    assert rig.host.events == []
    assert rig.sent(a) == [{"return": {}, "id": 1}]


def test_an_error_without_id_answers_the_oldest_command_in_flight(rig: Rig,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    a, b = rig.client(), rig.client()
    rig.forward(a, "bad", b'"b"')
    rig.forward(b, "good", b'"g"')
    parse_error = b'{"error": {"class": "GenericError", "desc": "JSON parse error"}}'
    with caplog.at_level(logging.WARNING, "vmplatform.qmp.endpoint"):
        rig.qemu_writes(parse_error + b"\r\n")
    assert [r.getMessage() for r in caplog.records] == ["QEMU could not parse a request: " + repr(parse_error)]
    assert rig.host.events == []
    assert rig.sent(a) == [{"error": {"class": "GenericError", "desc": "JSON parse error"}, "id": "b"}]
    assert rig.wires[2].writes == []
    rig.qemu_writes(b'{"return": {}, "id": 2}\r\n')
    assert rig.sent(b) == [{"return": {}, "id": "g"}]


def test_an_error_without_id_for_an_idless_command_has_no_id(rig: Rig) -> None:
    a = rig.client()
    rig.forward(a, "bad", None)
    rig.qemu_writes(b'{"error": {"class": "GenericError", "desc": "JSON parse error"}}\r\n')
    assert rig.wires[1].data == b'{"error": {"class": "GenericError", "desc": "JSON parse error"}}\r\n'


def test_an_error_without_id_when_nothing_is_in_flight_is_dropped(rig: Rig,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    a = rig.client()
    parse_error = b'{"error": {"class": "GenericError", "desc": "JSON parse error"}}'
    with caplog.at_level(logging.WARNING, "vmplatform.qmp.endpoint"):
        rig.qemu_writes(parse_error + b"\r\n")
    assert [r.getMessage() for r in caplog.records] == [
        "QEMU could not parse a request: " + repr(parse_error),
        "QEMU sent a message nobody waits for; dropped: " + repr(parse_error)]
    assert rig.host.events == [] and rig.wires[a.number].writes == []


def test_a_long_unroutable_line_is_logged_cut_short(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    line = b'{"return": "' + b"z" * 300 + b'", "id": 42}'
    odd = b'{"error": {"class": "GenericError", "desc": "' + b"w" * 300 + b'"}}'
    with caplog.at_level(logging.WARNING, "vmplatform.qmp.endpoint"):
        rig.qemu_writes(line + b"\r\n" + odd + b"\r\n")
    assert [r.getMessage() for r in caplog.records] == [
        "QEMU sent a message nobody waits for; dropped: " + repr(line[:200]),
        "QEMU could not parse a request: " + repr(odd[:200]),
        "QEMU sent a message nobody waits for; dropped: " + repr(odd[:200])]


def test_a_reply_to_a_client_that_left_is_dropped_and_the_others_still_get_theirs(rig: Rig) -> None:
    a, b = rig.client(), rig.client()
    rig.forward(a, "x", b"1")
    rig.forward(a, "y", b"2")
    rig.forward(b, "x", b"3")
    rig.forward(b, "y", b"4")
    a.connection_lost(None)
    rig.qemu_writes(b'{"return": {}, "id": 1}\r\n{ "return" : {}, "id" : 2 }\r\n'
                    b'{"return": {}, "id": 3}\r\n{ "return" : {}, "id" : 4 }\r\n')
    assert rig.wires[1].writes == []
    assert rig.sent(b) == [{"return": {}, "id": 3}, {"return": {}, "id": 4}]
    assert not rig.up._pending


class Recorder:
    """A reply rewriter that keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, bytes | None]] = []

    def __call__(self, line: bytes, rid: bytes | None) -> bytes:
        self.calls.append((line, rid))
        return b'{"rewritten": %d}\r\n' % len(self.calls)


def test_a_rewritten_reply_gets_qemus_line_and_the_clients_id(rig: Rig) -> None:
    a = rig.client()
    rewrite = Recorder()
    rig.forward(a, "query-commands", b'"c"', rewrite)
    rig.forward(a, "query-commands", None, rewrite)
    rig.forward(a, "query-commands", b'"p"', rewrite)
    rig.forward(a, "query-commands", None, rewrite)
    rig.forward(a, "query-status", b'"s"')
    rig.qemu_writes(b'{"return": [], "id": 1}\r\n{"return": [], "id": 2}\r\n'
                    b'{ "return" : [], "id" : 3 }\r\n{ "return" : [], "id" : 4 }\r\n{"return": {}, "id": 5}\r\n')
    assert rewrite.calls == [(b'{"return": [], "id": 1}', b'"c"'), (b'{"return": [], "id": 2}', None),
                             (b'{ "return" : [], "id" : 3 }', b'"p"'), (b'{ "return" : [], "id" : 4 }', None)]
    assert rig.sent(a) == [{"rewritten": n} for n in range(1, 5)] + [{"return": {}, "id": "s"}]


def test_the_endpoints_own_commands_get_the_parsed_reply(rig: Rig) -> None:
    async def body() -> None:
        first = asyncio.ensure_future(rig.up.reply_of("query-kvm", None))
        second = asyncio.ensure_future(rig.up.reply_of("qom-get", {"path": "/", "property": "type"}))
        await asyncio.sleep(0)
        assert rig.qemu.data == (b'{"execute": "query-kvm", "id": 1}\r\n'
                                 b'{"execute": "qom-get", "id": 2, "arguments": {"path": "/", "property": "type"}}'
                                 b"\r\n")
        rig.qemu_writes(b'{ "return" : {"enabled": true}, "id" : 2 }\r\n{"return": {"present": false}, "id": 1}\r\n')
        assert await first == {"return": {"present": False}, "id": 1}
        assert await second == {"return": {"enabled": True}, "id": 2}
        assert not rig.up._pending

    rig.loop.run_until_complete(asyncio.wait_for(body(), 5))


def test_a_late_reply_to_an_abandoned_own_command_is_ignored(rig: Rig) -> None:
    async def body() -> None:
        a = rig.client()
        first = asyncio.ensure_future(rig.up.reply_of("query-kvm", None))
        second = asyncio.ensure_future(rig.up.reply_of("query-status", None))
        await asyncio.sleep(0)
        first.cancel()
        second.cancel()
        rig.forward(a, "stop", b"9")
        # Both shapes; nothing raises, and the client's reply in the same read still goes out.
        rig.qemu_writes(b'{"return": {}, "id": 1}\r\n{ "return" : {}, "id" : 2 }\r\n{"return": {}, "id": 3}\r\n')
        assert rig.sent(a) == [{"return": {}, "id": 9}]
        assert not rig.up._pending

    rig.loop.run_until_complete(asyncio.wait_for(body(), 5))


def test_replies_owed_when_qemu_goes_away(rig: Rig) -> None:
    async def body() -> None:
        a, b = rig.client(), rig.client()
        rig.forward(a, "x", b'"one"')
        rig.forward(b, "y", None)
        rig.forward(a, "z", b"3")
        own = asyncio.ensure_future(rig.up.reply_of("query-kvm", None))
        await asyncio.sleep(0)
        rig.qemu_writes(b'{"return": {}, "id": 3}\r\n')     # z answered; x still owed, so z waits
        assert rig.wires[1].writes == []
        rig.up.answer_pending("QEMU went away")
        gone = {"class": "GenericError", "desc": "QEMU went away"}
        a.flush()
        b.flush()
        assert rig.sent(a) == [{"id": "one", "error": gone}, {"return": {}, "id": 3}]
        assert rig.sent(b) == [{"error": gone}]
        with pytest.raises(EndpointError, match="QEMU went away"):
            await own
        rig.up.drop_pending()
        assert not rig.up._pending

    rig.loop.run_until_complete(asyncio.wait_for(body(), 5))


def test_while_negotiating_lines_go_to_the_handshake(rig: Rig) -> None:
    rig.up._handshake = asyncio.Queue()
    rig.qemu_writes(b'{"QMP": {}}\r\n\r\n \n{"return": {}}\n')
    lines = []
    while not rig.up._handshake.empty():
        lines.append(json.loads(rig.up._handshake.get_nowait()))
    assert lines == [{"QMP": {}}, {"return": {}}]
    assert rig.host.events == []
