"""One downstream QMP connection: its replies in request order, and flow control.

:class:`ReplyQueue` keeps the order (no I/O): a reply known at once queues
behind the slots the client is still owed, and a slot filled later is
delivered only when every earlier one is. Events bypass the slots, as from
QEMU. :class:`Client` is the asyncio protocol around it: it writes one batch
per flush, stops reading the client's commands while the client does not
read its output or while QEMU does not read (:attr:`ClientHost.upstream_paused`),
and drops a client whose unread output passes the host's limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Protocol, cast

from vmplatform.qmp import protocol as P

# The endpoint's logger, so log lines keep their names whichever module emits them.
logger = logging.getLogger("vmplatform.qmp.endpoint")

#: Bytes read per recv. asyncio's plain Protocol allocates (and frees) 256 KiB
#: per read; reading into a buffer we keep is what makes a hop cheap.
READ_SIZE = 64 << 10


class Slot:
    """A reply a client is owed, in request order; ``data`` is None until known."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | None = None) -> None:
        self.data = data


class ReplyQueue:
    """The replies a client is owed, in request order, and the output ready to write."""

    __slots__ = ("slots", "out")

    def __init__(self) -> None:
        self.slots: deque[Slot] = deque()
        self.out: list[bytes] = []

    @property
    def owed(self) -> bool:
        """Whether a reply is still owed (a slot not yet written out)."""
        return bool(self.slots)

    def reply(self, data: bytes) -> None:
        """Queue a reply that is known now, behind any the client is still owed."""
        if self.slots:
            self.slots.append(Slot(data))
        else:
            self.out.append(data)

    def new_slot(self) -> Slot:
        """Reserve the place of a reply that comes later; fill ``data``, then :meth:`drain`."""
        slot = Slot()
        self.slots.append(slot)
        return slot

    def event(self, data: bytes) -> None:
        """Queue an event: it does not wait for owed replies."""
        self.out.append(data)

    def drain(self) -> None:
        """Move the filled slots at the head, in order, to the output."""
        slots = self.slots
        while slots and slots[0].data is not None:
            self.out.append(cast(bytes, slots.popleft().data))

    def take(self) -> bytes | None:
        """The queued output as one write, or None."""
        out = self.out
        if not out:
            return None
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def discard_output(self) -> None:
        self.out.clear()

    def forget(self) -> None:
        """The client is gone: nothing is owed any more."""
        self.slots.clear()


class ClientHost(Protocol):
    """What a :class:`Client` needs from the endpoint serving it."""

    @property
    def max_client_buffer(self) -> int: ...

    @property
    def upstream_paused(self) -> bool: ...

    def client_connected(self, client: Client) -> None: ...

    def client_data(self, client: Client, data: bytes) -> None: ...

    def client_gone(self, client: Client, exc: Exception | None) -> None: ...


class Client(asyncio.BufferedProtocol):
    """One downstream QMP connection."""

    def __init__(self, host: ClientHost, number: int, loop: asyncio.AbstractEventLoop) -> None:
        self.buffer = memoryview(bytearray(READ_SIZE))
        self.host = host
        self.number = number
        self.log = logger.getChild(f"client{number}")
        self.splitter = P.JsonSplitter()
        self.negotiated = False
        self.replies = ReplyQueue()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.eof = False
        self.write_paused = False
        self.reading_paused = False
        self.lost: asyncio.Future[None] = loop.create_future()
        # While a device_add is being pinned, later commands wait here, so QEMU
        # runs them in the client's order (a device_add then query-pci sees the device).
        self.held = False
        self.backlog: list[P.Frame] = []

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.host.client_connected(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.host.client_data(self, self.buffer[:nbytes].tobytes())

    def eof_received(self) -> bool:
        # A half-closed client still gets the replies it is owed.
        self.eof = True
        return self.replies.owed

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.replies.forget()
        self.host.client_gone(self, exc)
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True
        self.update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.update_reading()

    # -- output
    def reply(self, data: bytes) -> None:
        """Queue a reply that is known now, behind any the client is still owed."""
        self.replies.reply(data)

    def new_slot(self) -> Slot:
        return self.replies.new_slot()

    def event(self, data: bytes) -> None:
        self.replies.event(data)

    def drain(self) -> None:
        self.replies.drain()

    def flush(self) -> None:
        """Write what is queued (one write per batch); close after a half-close once all is answered."""
        transport = self.transport
        if self.closed or transport is None:
            self.replies.discard_output()
            return
        data = self.replies.take()
        if data is not None:
            transport.write(data)
            if transport.get_write_buffer_size() > self.host.max_client_buffer:
                self.log.warning("client does not read its replies and events (%d bytes unread); "
                                 "disconnecting it", transport.get_write_buffer_size())
                transport.abort()
                return
        if self.eof and not self.replies.owed:
            transport.close()

    def update_reading(self) -> None:
        """Read the client's commands only while both it and QEMU read what they are sent."""
        transport = self.transport
        if transport is None or self.closed:
            return
        paused = self.write_paused or self.host.upstream_paused
        if paused != self.reading_paused:
            self.reading_paused = paused
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
