"""Reply ordering and flow control of one client, without QEMU.

:class:`ReplyQueue` is driven directly; :class:`Client` runs over a real
unix socket pair in an asyncio loop, with a small host standing in for the
endpoint.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from vmplatform.qmp.client import Client, ReplyQueue


def reply(n: int) -> bytes:
    return b'{"return": {}, "id": %d}\r\n' % n


def test_slots_filled_out_of_order_are_delivered_in_request_order() -> None:
    q = ReplyQueue()
    first, second, third = q.new_slot(), q.new_slot(), q.new_slot()
    third.data = reply(3)
    q.drain()
    assert q.take() is None            # 1 and 2 still owed: 3 waits
    first.data = reply(1)
    q.drain()
    assert q.take() == reply(1)
    q.reply(reply(4))                  # known at once, but behind the owed 2 (and 3)
    q.drain()
    assert q.take() is None
    assert q.owed
    second.data = reply(2)
    q.drain()
    assert q.take() == reply(2) + reply(3) + reply(4)
    assert not q.owed


def test_a_reply_known_at_once_goes_straight_out_when_nothing_is_owed() -> None:
    q = ReplyQueue()
    q.reply(reply(1))
    assert not q.owed
    assert q.take() == reply(1)


def test_events_do_not_wait_for_owed_replies() -> None:
    q = ReplyQueue()
    slot = q.new_slot()
    q.event(b'{"event": "STOP"}\r\n')
    q.drain()
    assert q.take() == b'{"event": "STOP"}\r\n'
    slot.data = reply(1)
    q.drain()
    assert q.take() == reply(1)


class Host:
    """The endpoint's side of a client, recorded."""

    def __init__(self, max_client_buffer: int) -> None:
        self.max_client_buffer = max_client_buffer
        self.upstream_paused = False
        self.connected: list[Client] = []
        self.data: list[bytes] = []
        self.gone: list[Client] = []

    def client_connected(self, client: Client) -> None:
        self.connected.append(client)

    def client_data(self, client: Client, data: bytes) -> None:
        self.data.append(data)

    def client_gone(self, client: Client, exc: Exception | None) -> None:
        self.gone.append(client)


def run_with_client(max_client_buffer: int,
                    body: Callable[[Host, Client, socket.socket], Awaitable[None]]) -> None:
    async def main() -> None:
        ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        peer.setblocking(False)
        loop = asyncio.get_running_loop()
        host = Host(max_client_buffer)
        client = Client(host, 1, loop)
        try:
            await loop.connect_accepted_socket(lambda: client, sock=ours)
            assert host.connected == [client]
            await body(host, client, peer)
        finally:
            client.abort()
            peer.close()
            await asyncio.wait_for(client.lost, 5)

    asyncio.run(main())


async def read_exactly(peer: socket.socket, n: int) -> bytes:
    loop = asyncio.get_running_loop()
    got = b""
    async with asyncio.timeout(5):
        while len(got) < n:
            got += await loop.sock_recv(peer, n - len(got))
    return got


def test_client_writes_out_of_order_replies_in_request_order() -> None:
    async def body(host: Host, client: Client, peer: socket.socket) -> None:
        slots = [client.new_slot() for _ in range(3)]
        slots[2].data = reply(3)
        slots[0].data = reply(1)
        client.drain()
        client.flush()
        assert await read_exactly(peer, len(reply(1))) == reply(1)
        slots[1].data = reply(2)
        client.drain()
        client.flush()
        assert await read_exactly(peer, len(reply(2) + reply(3))) == reply(2) + reply(3)

    run_with_client(1 << 20, body)


def test_half_closed_client_gets_what_it_is_owed_then_is_closed() -> None:
    async def body(host: Host, client: Client, peer: socket.socket) -> None:
        slot = client.new_slot()
        peer.shutdown(socket.SHUT_WR)
        async with asyncio.timeout(5):
            while not client.eof:
                await asyncio.sleep(0.01)
        assert not client.closed           # still owed a reply: the connection stays
        slot.data = reply(7)
        client.drain()
        client.flush()
        assert await read_exactly(peer, len(reply(7))) == reply(7)
        await asyncio.wait_for(client.lost, 5)
        assert host.gone == [client]

    run_with_client(1 << 20, body)


def test_client_that_stops_reading_is_paused_then_dropped_within_the_limit() -> None:
    limit = 256 << 10
    event = b'{"event": "X", "data": {"pad": "' + b"x" * (16 << 10) + b'"}}\r\n'

    async def body(host: Host, client: Client, peer: socket.socket) -> None:
        assert client.transport is not None
        sent = 0
        paused_seen = False
        # The peer never reads: the kernel's socket buffer fills, then the transport's.
        while not client.closed and sent < (64 << 20):
            client.event(event)
            client.flush()
            sent += len(event)
            paused_seen = paused_seen or client.reading_paused
            if not client.closed:
                # Never more unread output than the limit while the client is kept.
                assert client.transport.get_write_buffer_size() <= limit
            await asyncio.sleep(0)
        await asyncio.wait_for(client.lost, 5)
        assert client.closed and host.gone == [client]
        assert paused_seen, "the client's commands were still read while it read nothing"
        assert sent < (16 << 20), f"{sent} bytes queued before the client was dropped"

    run_with_client(limit, body)


def test_client_commands_are_not_read_while_qemu_does_not_read() -> None:
    async def body(host: Host, client: Client, peer: socket.socket) -> None:
        host.upstream_paused = True
        client.update_reading()
        assert client.reading_paused
        peer.send(b'{"execute": "query-status"}')
        await asyncio.sleep(0.05)
        assert host.data == []
        host.upstream_paused = False
        client.update_reading()
        async with asyncio.timeout(5):
            while not host.data:
                await asyncio.sleep(0.01)
        assert b"".join(host.data) == b'{"execute": "query-status"}'

    run_with_client(1 << 20, body)
