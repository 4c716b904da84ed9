"""The one connection to QEMU's monitor: handshake, id rewriting, the table of commands in flight.

Every forwarded command gets a fresh integer id upstream; the reply is routed
back by that id and given the client's own id again, by splicing bytes
(:func:`~vmplatform.qmp.protocol.split_reply_id`) when QEMU put the id first
or last, else by parsing. Events go to the host to broadcast. Commands the
endpoint sends for itself wait on a future in the same table.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, cast

from vmplatform.qmp import protocol as P
from vmplatform.qmp.client import READ_SIZE, Client, Slot
from vmplatform.qmp.errors import EndpointError, UpstreamError

# The endpoint's logger, so log lines keep their names whichever module emits them.
logger = logging.getLogger("vmplatform.qmp.endpoint")

# Callback turning QEMU's reply line into the client's reply (for rewritten replies).
Transform = Callable[[bytes, bytes | None], bytes]


class Forwarded:
    """A client's command in flight in QEMU."""

    __slots__ = ("client", "slot", "rid", "transform")

    def __init__(self, client: Client, slot: Slot, rid: bytes | None, transform: Transform | None) -> None:
        self.client = client
        self.slot = slot
        self.rid = rid
        self.transform = transform


class UpstreamHost(Protocol):
    """What the upstream connection tells the endpoint."""

    def broadcast_event(self, data: bytes, touched: dict[int, Client]) -> None:
        """Queue an event line for every negotiated client, adding each to ``touched``."""

    def upstream_pause_changed(self, paused: bool) -> None: ...

    def upstream_closed(self, exc: Exception | None) -> None: ...


def readdress(obj: dict[str, Any], rid: bytes | None) -> bytes:
    """``obj`` as the reply to the client whose id serialises as ``rid`` (None: no id)."""
    if rid is None:
        obj.pop("id", None)
    else:
        obj["id"] = json.loads(rid)
    return P.encode(obj)


class Upstream(asyncio.BufferedProtocol):
    """The one connection to QEMU's monitor; QEMU writes one message per line."""

    def __init__(self, host: UpstreamHost, loop: asyncio.AbstractEventLoop, path: str,
                 greeting_timeout: float) -> None:
        self.buffer = memoryview(bytearray(READ_SIZE))
        self.host = host
        self.loop = loop
        self.path = path
        self.greeting_timeout = greeting_timeout
        self.transport: asyncio.Transport | None = None
        self.partial: list[bytes] = []
        self.lost: asyncio.Future[None] = loop.create_future()
        self.paused = False
        self.version: Any = None
        self.capabilities: list[str] = []
        self._next_id = 1
        self._pending: dict[int, Forwarded | asyncio.Future[Any]] = {}
        self._out: list[bytes] = []
        self._handshake: asyncio.Queue[bytes] | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        data = self.buffer[:nbytes].tobytes()
        end = data.rfind(b"\n")
        if end < 0:
            self.partial.append(data)  # a long line (query-qmp-schema) arrives in pieces
            return
        if self.partial:
            self.partial.append(data)
            data = b"".join(self.partial)
            end = data.rfind(b"\n")
            self.partial.clear()
        if end + 1 < len(data):
            self.partial.append(data[end + 1:])
        self._lines(data[:end].split(b"\n"))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self._handshake is not None:
            self._handshake.put_nowait(b"")
            return
        self.host.upstream_closed(exc)

    def pause_writing(self) -> None:
        self.paused = True
        self.host.upstream_pause_changed(True)

    def resume_writing(self) -> None:
        self.paused = False
        self.host.upstream_pause_changed(False)

    # -- connection and handshake
    async def connect(self) -> None:
        """Connect and negotiate; raises :class:`UpstreamError` saying what to fix."""
        path = self.path
        self._handshake = asyncio.Queue()
        try:
            await self.loop.create_unix_connection(lambda: self, path)
        except FileNotFoundError:
            raise UpstreamError(f"cannot connect to QEMU's QMP socket {path}: no such file",
                                f"start QEMU with '-qmp unix:{path},server=on,wait=off', or fix --connect") \
                from None
        except ConnectionRefusedError:
            if not _is_socket(path):
                raise UpstreamError(f"cannot connect to QEMU's QMP socket {path}: it is not a socket",
                                    "point --connect at the path of QEMU's -qmp unix:PATH,server=on") from None
            raise UpstreamError(f"cannot connect to QEMU's QMP socket {path}: nothing is listening on it",
                                "is QEMU running, with -qmp on this path?") from None
        except OSError as err:
            raise UpstreamError(f"cannot connect to QEMU's QMP socket {path}: {err.strerror or err}",
                                "check --connect and the socket's permissions") from None
        greeting = await self._handshake_line("QMP greeting")
        try:
            obj = json.loads(greeting)
            qmp = obj["QMP"]
            self.version = qmp["version"]
            caps = qmp["capabilities"]
            if not isinstance(caps, list):
                raise TypeError("capabilities is not a list")
        except (ValueError, KeyError, TypeError):
            raise UpstreamError(f"{path} does not speak QMP: its first message was {greeting[:200]!r}",
                                "point --connect at QEMU's -qmp socket (not an HMP -monitor)") from None
        self.capabilities = [str(c) for c in caps]
        # With oob enabled QEMU queues up to 8 in-band commands instead of
        # suspending the monitor after each one (monitor/qmp.c), so commands
        # from several clients pipeline. Nothing else changes for in-band
        # commands: same order, same replies, same events.
        if "oob" in self.capabilities:
            self.write(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}\n')
        else:
            self.write(b'{"execute": "qmp_capabilities"}\n')
        while True:
            line = await self._handshake_line("reply to qmp_capabilities")
            reply = json.loads(line)
            if isinstance(reply, dict) and "event" not in reply:
                break
        if "return" not in reply:
            raise UpstreamError(f"QEMU refused qmp_capabilities: {line[:200]!r}",
                                "is another client already connected to this monitor?")
        self._handshake = None

    async def _handshake_line(self, what: str) -> bytes:
        assert self._handshake is not None
        try:
            async with asyncio.timeout(self.greeting_timeout):
                line = await self._handshake.get()
        except TimeoutError:
            raise UpstreamError(
                f"QEMU at {self.path} accepted the connection but sent no {what} "
                f"within {self.greeting_timeout:g} s",
                "a -qmp socket serves one client at a time: is another client (libvirt, another "
                "endpoint, a shell) connected to it?") from None
        if not line:
            raise UpstreamError(f"QEMU at {self.path} closed the connection instead of sending its {what}",
                                "a -qmp socket serves one client at a time: is another client connected?")
        return line

    # -- commands out
    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def forward(self, cmd: P.Command, client: Client, rid: bytes | None, transform: Transform | None) -> None:
        """Queue ``cmd`` under a fresh id; its reply fills a new slot of ``client``.

        Raises ValueError (nothing queued) when the arguments cannot be encoded.
        """
        upid = self._next_id
        data = P.encode_command(cmd.execute, cmd.arguments, upid)
        self._next_id += 1
        self._out.append(data)
        self._pending[upid] = Forwarded(client, client.new_slot(), rid, transform)

    def flush(self) -> None:
        """Write the queued commands in one write."""
        out = self._out
        if out:
            self.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    async def reply_of(self, command: str, arguments: Mapping[str, object] | None) -> dict[str, Any]:
        """QEMU's whole reply (``return`` or ``error``) to a command sent for the endpoint."""
        upid = self._next_id
        self._next_id += 1
        fut: asyncio.Future[Any] = self.loop.create_future()
        self._pending[upid] = fut
        msg: dict[str, object] = {"execute": command, "id": upid}
        if arguments is not None:
            msg["arguments"] = dict(arguments)
        self.write(P.encode(msg))
        reply: dict[str, Any] = await fut
        return reply

    # -- shutdown
    def answer_pending(self, reason: str) -> None:
        """Answer every command still owed with ``reason``, so no one waits for a reply that cannot come."""
        for entry in self._pending.values():
            if isinstance(entry, Forwarded) and entry.slot.data is None:
                entry.slot.data = P.error_reply(P.GENERIC_ERROR, reason, entry.rid)
                entry.client.drain()
            elif isinstance(entry, asyncio.Future) and not entry.done():
                entry.set_exception(EndpointError(reason))

    def drop_pending(self) -> None:
        """Fail what callers of :meth:`reply_of` still await, and forget the table."""
        for fut in self._pending.values():
            if isinstance(fut, asyncio.Future) and not fut.done():
                fut.set_exception(EndpointError("QEMU's QMP connection closed"))
        self._pending.clear()

    # -- replies and events in
    def _lines(self, lines: Iterable[bytes]) -> None:
        if self._handshake is not None:
            for line in lines:
                if line.strip():
                    self._handshake.put_nowait(line)
            return
        touched: dict[int, Client] = {}
        pending = self._pending
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                continue
            hit = P.split_reply_id(line)
            entry = pending.pop(hit[0], None) if hit is not None else None
            if entry is None or hit is None:
                self._route_parsed(line, touched)
                continue
            if isinstance(entry, asyncio.Future):
                if not entry.done():
                    entry.set_result(json.loads(line))
                continue
            client = entry.client
            if client.closed:
                continue
            if entry.transform is not None:
                entry.slot.data = entry.transform(line, entry.rid)
            elif entry.rid is None:
                entry.slot.data = P.without_id(hit[1], hit[2]) + b"\r\n"
            else:
                entry.slot.data = hit[1] + entry.rid + hit[2] + b"\r\n"
            client.drain()
            touched[client.number] = client
        for client in touched.values():
            client.flush()

    def _route_parsed(self, line: bytes, touched: dict[int, Client]) -> None:
        """Events, and replies in an unexpected shape: parse and route by content."""
        try:
            obj = json.loads(line)
        except ValueError:
            logger.warning("QEMU sent something that is not JSON; dropped: %r", line[:200])
            return
        if not isinstance(obj, dict):
            logger.warning("QEMU sent a non-object; dropped: %r", line[:200])
            return
        if "id" not in obj and "event" in obj:
            self.host.broadcast_event(line + b"\r\n", touched)
            return
        if "id" in obj:
            upid = obj["id"]
        else:
            # An error without id: QEMU could not parse a request. Its replies
            # keep request order (parse errors are queued like commands,
            # monitor/qmp.c), so it answers the oldest request in flight.
            upid = next(iter(self._pending), None)
            logger.warning("QEMU could not parse a request: %r", line[:200])
        entry = self._pending.pop(upid, None) if isinstance(upid, int) else None
        if entry is None:
            logger.warning("QEMU sent a message nobody waits for; dropped: %r", line[:200])
            return
        if isinstance(entry, asyncio.Future):
            if not entry.done():
                entry.set_result(obj)
            return
        if entry.client.closed:
            return
        if entry.transform is not None:
            entry.slot.data = entry.transform(line, entry.rid)
        else:
            entry.slot.data = readdress(obj, entry.rid)
        entry.client.drain()
        touched[entry.client.number] = entry.client


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False
