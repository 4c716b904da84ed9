"""The QMP endpoint: many QMP clients in front of one QEMU monitor.

Design
------
A ``-qmp unix:...,server=on`` monitor serves one client at a time, so the
endpoint holds ONE upstream connection to QEMU and multiplexes it:

* every client gets its own greeting (QEMU's version and capabilities, less
  ``oob``: the endpoint does not do out-of-band execution, and offering it
  would make clients such as ``qemu.qmp`` enable it), its own capabilities
  negotiation and its own ``id`` space;
* a forwarded command gets a fresh integer id upstream; the reply is routed
  back by that id and given the client's own id again, byte for byte as
  the client's JSON value serialises;
* asynchronous events (no ``id``) go to every client that has finished
  negotiation, unchanged;
* replies reach each client in the order of its requests, as from QEMU,
  even when a locally answered command overtakes a forwarded one
  (a per-client queue of reply slots).

Upstream is a plain :class:`asyncio.Protocol` over the unix socket rather
than ``qemu.qmp.QMPClient``: a proxy must pass replies through as they are,
and ``QMPClient`` parses every message into a ``Message`` and re-serialises
it, owns the id space, and routes through queues and tasks per message,
which would cost both fidelity and latency. QEMU writes one message per
line and puts the id first or last (``{"id": N, "error": ...}``,
``{"return": ..., "id": N}``), so a reply is re-addressed by splicing bytes
(:func:`~vmplatform.qmp.protocol.split_reply_id`), whatever its size.
Downstream uses protocols as well: no task per connection or message.

Flow control: when QEMU stops reading, the endpoint stops reading from
every client; when a client stops reading its replies, the endpoint stops
reading that client's commands. A client whose unread output still grows
past :attr:`Endpoint.max_client_buffer` (events keep coming) is dropped.

Lifecycle::

    IDLE --start()--> CONNECTING --> RUNNING --stop() / QEMU closes--> STOPPING --> STOPPED

When QEMU closes its socket (it quit or died) the endpoint closes every
client after flushing what they were owed; it does not invent a SHUTDOWN
event (QEMU sends its own when it shuts down cleanly). ``wait_closed()``
returns then.

Errors::

    VmplatformError
     └── QemuError
          └── EndpointError      the endpoint cannot run (subclasses say why)
               ├── StateError    a method called in the wrong run state
               ├── UpstreamError QEMU's QMP socket is unreachable or not QMP
               ├── ListenError   the listening socket cannot be created
               └── ExecuteError  a command the endpoint sent for itself failed
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import socket
import stat
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, cast

from ..errors import QemuError
from . import protocol as P
from .hotplug import DEVICE_ADD, GUARDED, NETDEV_ADD, HotplugGuard
from .local import (QUERY_PLATFORM_DEPENDENCIES, QUERY_PLATFORMS, LocalCommandError, LocalCommands,
                    add_local_commands, check_no_arguments)

logger = logging.getLogger(__name__)


class Runstate(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class EndpointError(QemuError):
    """The QMP endpoint cannot run."""


class StateError(EndpointError):
    def __init__(self, action: str, state: Runstate, required: Runstate) -> None:
        super().__init__(f"cannot {action}: the endpoint is {state.value}, not {required.value}")
        self.state = state
        self.required = required


class UpstreamError(EndpointError):
    """QEMU's QMP socket cannot be reached, or what answers is not a QMP monitor."""


class ListenError(EndpointError):
    """The endpoint's own socket cannot be created."""


class ExecuteError(EndpointError):
    """QEMU answered a command the endpoint sent on its own behalf with an error."""

    def __init__(self, command: str, error_class: str, desc: str) -> None:
        super().__init__(f"{command}: {desc}")
        self.command = command
        self.error_class = error_class
        self.desc = desc


def _require(ep: Endpoint, state: Runstate, action: str) -> None:
    if ep.runstate is not state:
        raise StateError(action, ep.runstate, state)


# Callback turning QEMU's reply line into the client's reply (for rewritten replies).
Transform = Callable[[bytes, bytes | None], bytes]


class _Slot:
    """A reply a client is owed, in request order; ``data`` is None until known."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | None = None) -> None:
        self.data = data


class _Forwarded:
    """A client's command in flight in QEMU."""

    __slots__ = ("client", "slot", "rid", "transform")

    def __init__(self, client: _Client, slot: _Slot, rid: bytes | None, transform: Transform | None) -> None:
        self.client = client
        self.slot = slot
        self.rid = rid
        self.transform = transform


#: Bytes read per recv. asyncio's plain Protocol allocates (and frees) 256 KiB
#: per read; reading into a buffer we keep is what makes a hop cheap.
READ_SIZE = 64 << 10


class _Client(asyncio.BufferedProtocol):
    """One downstream QMP connection."""

    def __init__(self, ep: Endpoint, number: int) -> None:
        self.buffer = memoryview(bytearray(READ_SIZE))
        self.ep = ep
        self.number = number
        self.log = logger.getChild(f"client{number}")
        self.splitter = P.JsonSplitter()
        self.negotiated = False
        self.slots: deque[_Slot] = deque()
        self.out: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.eof = False
        self.write_paused = False
        self.reading_paused = False
        self.lost: asyncio.Future[None] = ep.loop.create_future()
        # While a device_add is being pinned, later commands wait here, so QEMU
        # runs them in the client's order (a device_add then query-pci sees the device).
        self.held = False
        self.backlog: list[P.Frame] = []

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.ep._client_connected(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.ep._client_data(self, self.buffer[:nbytes].tobytes())

    def eof_received(self) -> bool:
        # A half-closed client still gets the replies it is owed.
        self.eof = True
        return bool(self.slots)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.slots.clear()
        self.ep._client_gone(self, exc)
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
        if self.slots:
            self.slots.append(_Slot(data))
        else:
            self.out.append(data)

    def new_slot(self) -> _Slot:
        slot = _Slot()
        self.slots.append(slot)
        return slot

    def drain(self) -> None:
        slots = self.slots
        while slots and slots[0].data is not None:
            self.out.append(cast(bytes, slots.popleft().data))

    def flush(self) -> None:
        """Write what is queued (one write per batch); close after a half-close once all is answered."""
        transport = self.transport
        if self.closed or transport is None:
            self.out.clear()
            return
        if self.out:
            data = self.out[0] if len(self.out) == 1 else b"".join(self.out)
            self.out.clear()
            transport.write(data)
            if transport.get_write_buffer_size() > self.ep.max_client_buffer:
                self.log.warning("client does not read its replies and events (%d bytes unread); "
                                 "disconnecting it", transport.get_write_buffer_size())
                transport.abort()
                return
        if self.eof and not self.slots:
            transport.close()

    def update_reading(self) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        paused = self.write_paused or self.ep._upstream_paused
        if paused != self.reading_paused:
            self.reading_paused = paused
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()


class _Upstream(asyncio.BufferedProtocol):
    """The one connection to QEMU's monitor; QEMU writes one message per line."""

    def __init__(self, ep: Endpoint) -> None:
        self.buffer = memoryview(bytearray(READ_SIZE))
        self.ep = ep
        self.transport: asyncio.Transport | None = None
        self.partial: list[bytes] = []
        self.lost: asyncio.Future[None] = ep.loop.create_future()

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
        self.ep._upstream_lines(data[:end].split(b"\n"))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self.ep._upstream_gone(exc)

    def pause_writing(self) -> None:
        self.ep._set_upstream_paused(True)

    def resume_writing(self) -> None:
        self.ep._set_upstream_paused(False)


class Endpoint:
    """Serve QMP on ``listen``, passing commands through to QEMU's monitor at ``connect``.

    ``async with Endpoint(connect, listen, local) as ep: await ep.wait_closed()``.
    :meth:`start` raises :class:`UpstreamError` or :class:`ListenError` with a
    message saying what to fix; after a failed start nothing is left open.
    """

    #: A client with more unread output than this is disconnected.
    max_client_buffer = 64 << 20

    def __init__(self, connect: str, listen: str, local: LocalCommands, *,
                 greeting_timeout: float = 10.0, listen_mode: int = 0o600,
                 hotplug: HotplugGuard | None = None) -> None:
        self.connect_path = connect
        self.listen_path = listen
        self.local = local
        #: Pins and checks device_add; None passes it through untouched.
        self.hotplug = hotplug
        self.greeting_timeout = greeting_timeout
        self.listen_mode = listen_mode   # owner-only by default: the socket drives the VM
        self._stop_reason = "the vmplatform QMP endpoint is stopping"
        self.qemu_version: Any = None
        self.qemu_capabilities: list[str] = []
        self._state = Runstate.IDLE
        self._loop: asyncio.AbstractEventLoop | None = None
        self._upstream: _Upstream | None = None
        self._upstream_paused = False
        self._server: asyncio.AbstractServer | None = None
        self._listen_id: tuple[int, int] | None = None
        self._greeting = b""
        self._clients: dict[int, _Client] = {}
        self._client_count = 0
        self._next_id = 1
        self._pending: dict[int, _Forwarded | asyncio.Future[Any]] = {}
        self._up_out: list[bytes] = []
        self._handshake: asyncio.Queue[bytes] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Task[None] | None = None
        self._done = asyncio.Event()

    # ------------------------------------------------------------ lifecycle
    @property
    def runstate(self) -> Runstate:
        return self._state

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "the endpoint is not started"
        return self._loop

    @property
    def clients(self) -> int:
        """Number of connected clients."""
        return len(self._clients)

    async def start(self) -> None:
        """Connect to QEMU, negotiate, then listen. Rolls back on failure."""
        _require(self, Runstate.IDLE, "start")
        self._loop = asyncio.get_running_loop()
        self._state = Runstate.CONNECTING
        try:
            if os.path.abspath(self.listen_path) == os.path.abspath(self.connect_path):
                raise ListenError(f"--listen and --connect are the same path ({self.listen_path})",
                                  "listen on a path of your own; clients connect there instead of to QEMU")
            await self._connect_upstream()
            try:
                await self.local.attach(self._execute_upstream)
            except LocalCommandError as err:
                raise EndpointError(err.desc, "drop --platform: the endpoint reads the VM's own") from None
            await self._listen()
        except BaseException:
            await asyncio.shield(self._begin_stop())
            raise
        self._state = Runstate.RUNNING
        logger.info("serving QMP on %s for QEMU %s at %s", self.listen_path,
                    _version_text(self.qemu_version), self.connect_path)

    async def stop(self) -> None:
        """Stop serving: close the listener, every client and the upstream connection.

        Idempotent; concurrent calls wait for the same shutdown.
        """
        if self._state in (Runstate.IDLE, Runstate.STOPPED):
            self._state = Runstate.STOPPED
            self._done.set()
            return
        await asyncio.shield(self._begin_stop())

    async def wait_closed(self) -> None:
        """Return once the endpoint has stopped (stop() or QEMU closing its socket)."""
        await self._done.wait()

    async def __aenter__(self) -> Endpoint:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def _begin_stop(self) -> asyncio.Task[None]:
        """The one shutdown task, created on first use."""
        if self._stopping is None:
            self._stopping = self.loop.create_task(self._teardown())
        return self._stopping

    async def _teardown(self) -> None:
        self._state = Runstate.STOPPING
        if self._server is not None:
            self._server.close()
        # Every command still owed is answered, so no client waits for a reply that cannot come:
        # forwarded ones here, the endpoint's own (waiting on QEMU) by their tasks.
        for entry in self._pending.values():
            if isinstance(entry, _Forwarded) and entry.slot.data is None:
                entry.slot.data = P.error_reply(P.GENERIC_ERROR, self._stop_reason, entry.rid)
                entry.client.drain()
            elif isinstance(entry, asyncio.Future) and not entry.done():
                entry.set_exception(EndpointError(self._stop_reason))
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1)
        for client in list(self._clients.values()):
            client.flush()
            if client.transport is not None:
                client.transport.close()
        lost = [c.lost for c in self._clients.values()]
        upstream = self._upstream
        if upstream is not None and upstream.transport is not None:
            upstream.transport.close()
        for task in list(self._tasks):  # cancelling them cancels the futures they wait on
            task.cancel()
        for fut in self._pending.values():  # what is left is awaited by callers of execute()
            if isinstance(fut, asyncio.Future) and not fut.done():
                fut.set_exception(EndpointError("QEMU's QMP connection closed"))
        self._pending.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if upstream is not None and upstream.transport is not None:
            lost.append(upstream.lost)
        if lost:
            await asyncio.wait(lost, timeout=5)
        for client in list(self._clients.values()):  # still not gone: a peer that reads nothing
            if client.transport is not None:
                client.transport.abort()
        if upstream is not None and upstream.transport is not None and not upstream.lost.done():
            upstream.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._unlink_listen_path()
        self._state = Runstate.STOPPED
        self._done.set()
        logger.info("stopped")

    # ------------------------------------------------------------- upstream
    async def _connect_upstream(self) -> None:
        path = self.connect_path
        self._handshake = asyncio.Queue()
        try:
            await self.loop.create_unix_connection(lambda: self._make_upstream(), path)
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
            self.qemu_version = qmp["version"]
            caps = qmp["capabilities"]
            if not isinstance(caps, list):
                raise TypeError("capabilities is not a list")
        except (ValueError, KeyError, TypeError):
            raise UpstreamError(f"{path} does not speak QMP: its first message was {greeting[:200]!r}",
                                "point --connect at QEMU's -qmp socket (not an HMP -monitor)") from None
        self.qemu_capabilities = [str(c) for c in caps]
        self._greeting = P.greeting(self.qemu_version, [c for c in self.qemu_capabilities if c != "oob"])
        # With oob enabled QEMU queues up to 8 in-band commands instead of
        # suspending the monitor after each one (monitor/qmp.c), so commands
        # from several clients pipeline. Nothing else changes for in-band
        # commands: same order, same replies, same events.
        if "oob" in self.qemu_capabilities:
            self._write_upstream(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}\n')
        else:
            self._write_upstream(b'{"execute": "qmp_capabilities"}\n')
        while True:
            line = await self._handshake_line("reply to qmp_capabilities")
            reply = json.loads(line)
            if isinstance(reply, dict) and "event" not in reply:
                break
        if "return" not in reply:
            raise UpstreamError(f"QEMU refused qmp_capabilities: {line[:200]!r}",
                                "is another client already connected to this monitor?")
        self._handshake = None

    def _make_upstream(self) -> _Upstream:
        self._upstream = _Upstream(self)
        return self._upstream

    async def _handshake_line(self, what: str) -> bytes:
        assert self._handshake is not None
        try:
            async with asyncio.timeout(self.greeting_timeout):
                line = await self._handshake.get()
        except TimeoutError:
            raise UpstreamError(
                f"QEMU at {self.connect_path} accepted the connection but sent no {what} "
                f"within {self.greeting_timeout:g} s",
                "a -qmp socket serves one client at a time: is another client (libvirt, another "
                "endpoint, a shell) connected to it?") from None
        if not line:
            raise UpstreamError(f"QEMU at {self.connect_path} closed the connection instead of sending its {what}",
                                "a -qmp socket serves one client at a time: is another client connected?")
        return line

    def _write_upstream(self, data: bytes) -> None:
        upstream = self._upstream
        if upstream is not None and upstream.transport is not None and not upstream.transport.is_closing():
            upstream.transport.write(data)

    def _flush_upstream(self) -> None:
        out = self._up_out
        if out:
            self._write_upstream(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def _set_upstream_paused(self, paused: bool) -> None:
        self._upstream_paused = paused
        for client in self._clients.values():
            client.update_reading()

    def _upstream_gone(self, exc: Exception | None) -> None:
        if self._handshake is not None:
            self._handshake.put_nowait(b"")
            return
        if self._state is Runstate.RUNNING:
            logger.info("QEMU closed its QMP socket%s; stopping", f" ({exc})" if exc else "")
            self._stop_reason = ("QEMU closed its QMP connection before answering: "
                                 "QEMU has exited or its monitor was closed")
            self._begin_stop()

    async def execute(self, command: str, arguments: Mapping[str, object] | None = None) -> Any:
        """Run ``command`` in QEMU for the endpoint itself; returns its ``return`` value.

        Raises :class:`ExecuteError` for a QMP error reply and
        :class:`EndpointError` when QEMU goes away first.
        """
        _require(self, Runstate.RUNNING, f"execute {command}")
        return await self._execute_upstream(command, arguments)

    async def _execute_upstream(self, command: str, arguments: Mapping[str, object] | None = None) -> Any:
        """:meth:`execute` in any state with a negotiated upstream (start-up reads)."""
        reply = await self._reply_of(command, arguments)
        if "error" in reply:
            err = reply["error"]
            raise ExecuteError(command, str(err.get("class", P.GENERIC_ERROR)), str(err.get("desc", "")))
        return reply.get("return")

    async def _reply_of(self, command: str, arguments: Mapping[str, object] | None) -> dict[str, Any]:
        """QEMU's whole reply (``return`` or ``error``) to a command sent for the endpoint."""
        upid = self._next_id
        self._next_id += 1
        fut: asyncio.Future[Any] = self.loop.create_future()
        self._pending[upid] = fut
        msg: dict[str, object] = {"execute": command, "id": upid}
        if arguments is not None:
            msg["arguments"] = dict(arguments)
        self._write_upstream(P.encode(msg))
        reply: dict[str, Any] = await fut
        return reply

    async def _execute_for_local(self, command: str, arguments: Mapping[str, object] | None) -> Any:
        try:
            return await self.execute(command, arguments)
        except ExecuteError as err:
            raise LocalCommandError(err.desc, err.error_class) from None

    def _upstream_lines(self, lines: Iterable[bytes]) -> None:
        if self._handshake is not None:
            for line in lines:
                if line.strip():
                    self._handshake.put_nowait(line)
            return
        touched: dict[int, _Client] = {}
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

    def _route_parsed(self, line: bytes, touched: dict[int, _Client]) -> None:
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
            data = line + b"\r\n"
            for client in self._clients.values():
                if client.negotiated and not client.closed:
                    client.out.append(data)
                    touched[client.number] = client
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
            entry.slot.data = _readdress(obj, entry.rid)
        entry.client.drain()
        touched[entry.client.number] = entry.client

    # -------------------------------------------------------------- clients
    async def _listen(self) -> None:
        path = self.listen_path
        _clear_stale_socket(path)
        # Bind under a temporary name and rename into place once listening, so
        # the socket appearing at ``path`` means the endpoint is ready.
        tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}")
        bind = tmp if len(os.fsencode(tmp)) < 108 else path
        try:
            # Owner-only before anyone can connect: bind, chmod, and only then listen
            # (create_unix_server listens on the socket it is given).
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(bind)
                os.chmod(bind, self.listen_mode)
            except OSError:
                sock.close()
                raise
            self._server = await self.loop.create_unix_server(lambda: self._make_client(), sock=sock)
            if bind != path:
                os.rename(bind, path)
        except OSError as err:
            if bind != path:
                _unlink_quietly(bind)
            raise ListenError(f"cannot listen on {path}: {err.strerror or err}",
                              "choose a --listen path in a writable directory") from None
        st = os.stat(path)
        self._listen_id = (st.st_dev, st.st_ino)

    def _unlink_listen_path(self) -> None:
        if self._listen_id is None:
            return
        try:
            st = os.stat(self.listen_path)
            if (st.st_dev, st.st_ino) == self._listen_id:
                os.unlink(self.listen_path)
        except OSError:
            pass
        self._listen_id = None

    def _make_client(self) -> _Client:
        self._client_count += 1
        return _Client(self, self._client_count)

    def _client_connected(self, client: _Client) -> None:
        transport = client.transport
        assert transport is not None
        if self._state is not Runstate.RUNNING:
            transport.abort()
            return
        self._clients[client.number] = client
        client.log.debug("connected")
        client.update_reading()
        transport.write(self._greeting)

    def _client_gone(self, client: _Client, exc: Exception | None) -> None:
        if self._clients.pop(client.number, None) is not None:
            client.log.debug("disconnected%s", f": {exc}" if exc else "")

    def _client_data(self, client: _Client, data: bytes) -> None:
        if self._state is not Runstate.RUNNING:
            return
        try:
            for frame in client.splitter.feed(data):
                if client.held:
                    client.backlog.append(frame)
                else:
                    self._request(client, frame)
        except Exception:  # a bug must cost this client its connection, never the endpoint
            client.log.exception("internal error handling a request; disconnecting the client")
            if client.transport is not None:
                client.transport.abort()
            return
        finally:
            self._flush_upstream()
        client.drain()
        client.flush()

    def _request(self, client: _Client, frame: P.Frame) -> None:
        if type(frame) is P.ParseError:
            client.reply(P.error_reply(P.GENERIC_ERROR, frame.desc))
            return
        cmd = P.check_command(frame)
        if type(cmd) is P.InputError:
            client.reply(P.error_reply(P.GENERIC_ERROR, cmd.desc, P.id_json(cmd.has_id, cmd.id)))
            return
        assert isinstance(cmd, P.Command)
        rid = P.id_json(cmd.has_id, cmd.id)
        name = cmd.execute
        if not client.negotiated:
            if name == "qmp_capabilities":
                client.reply(self._negotiate(client, cmd.arguments, rid))
            else:
                client.reply(P.error_reply(P.COMMAND_NOT_FOUND, P.NEEDS_NEGOTIATION, rid))
            return
        if name == "qmp_capabilities":
            client.reply(P.error_reply(P.COMMAND_NOT_FOUND, P.ALREADY_NEGOTIATED, rid))
        elif name == QUERY_PLATFORMS:
            try:
                check_no_arguments(cmd.arguments)
            except LocalCommandError as err:
                client.reply(P.error_reply(err.error_class, err.desc, rid))
                return
            client.reply(P.return_reply(self.local.platforms_json, rid))
        elif name == QUERY_PLATFORM_DEPENDENCIES:
            slot = client.new_slot()
            task = self.loop.create_task(self._answer_dependencies(client, slot, cmd.arguments, rid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif self.hotplug is not None and name in GUARDED:
            self._guarded(client, cmd, rid, self.hotplug)
        else:
            self._forward(client, cmd, rid, _with_local_commands if name == "query-commands" else None)

    def _forward(self, client: _Client, cmd: P.Command, rid: bytes | None, transform: Transform | None) -> None:
        upid = self._next_id
        try:
            data = P.encode_command(cmd.execute, cmd.arguments, upid)
        except ValueError as err:
            client.reply(P.error_reply(P.GENERIC_ERROR, str(err), rid))
            return
        self._next_id += 1
        self._up_out.append(data)
        self._pending[upid] = _Forwarded(client, client.new_slot(), rid, transform)

    def _guarded(self, client: _Client, cmd: P.Command, rid: bytes | None, guard: HotplugGuard) -> None:
        """device_add goes through the guard; netdev_add / netdev_del tell it the backends."""
        if cmd.execute != DEVICE_ADD:
            added = cmd.execute == NETDEV_ADD

            def learn(line: bytes, rid: bytes | None) -> bytes:
                obj = json.loads(line)
                if "return" in obj:
                    (guard.netdev_added if added else guard.netdev_deleted)(cmd.arguments)
                return _readdress(obj, rid)

            self._forward(client, cmd, rid, learn)
            return
        slot = client.new_slot()
        client.held = True
        task = self.loop.create_task(self._device_add(client, slot, cmd, rid, guard))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _device_add(self, client: _Client, slot: _Slot, cmd: P.Command, rid: bytes | None,
                          guard: HotplugGuard) -> None:
        try:
            args = await guard.pin(cmd.arguments, self._execute_for_local)
            slot.data = _readdress(await self._reply_of(DEVICE_ADD, args), rid)
        except LocalCommandError as err:
            client.log.info("refused: %s", err.desc)
            slot.data = P.error_reply(err.error_class, err.desc, rid)
        except EndpointError:
            slot.data = P.error_reply(P.GENERIC_ERROR, self._stop_reason, rid)  # QEMU went away
        except Exception as err:  # a bug must cost this command, never the endpoint or the client's order
            client.log.exception("internal error pinning device_add")
            slot.data = P.error_reply(P.GENERIC_ERROR, f"{DEVICE_ADD}: internal error in vmplatform: {err}", rid)
        finally:
            self._release(client)

    def _release(self, client: _Client) -> None:
        """The held client's backlog, in order (a later device_add holds it again)."""
        client.held = False
        backlog, client.backlog = client.backlog, []
        if self._state is not Runstate.RUNNING or client.closed:
            backlog = []  # the endpoint is stopping: what the client sent after device_add is not run
        for i, frame in enumerate(backlog):
            if client.held:
                client.backlog.extend(backlog[i:])
                break
            self._request(client, frame)
        self._flush_upstream()
        if not client.closed:
            client.drain()
            client.flush()

    def _negotiate(self, client: _Client, arguments: dict[str, Any] | None, rid: bytes | None) -> bytes:
        """``qmp_capabilities`` the way QEMU checks it; only ``oob`` exists, and it is not offered."""
        args = dict(arguments or {})
        enable = args.pop("enable", [])
        for name in args:
            return P.error_reply(P.GENERIC_ERROR, f"Parameter '{name}' is unexpected", rid)
        if not isinstance(enable, list):
            return P.error_reply(P.GENERIC_ERROR, "Invalid parameter type for 'enable', expected: array", rid)
        for cap in enable:
            if cap != "oob":
                shown = cap if isinstance(cap, str) else json.dumps(cap)
                return P.error_reply(P.GENERIC_ERROR, f"Parameter 'enable' does not accept value '{shown}'", rid)
        if enable:
            return P.error_reply(P.GENERIC_ERROR, "Capability oob not available", rid)
        client.negotiated = True
        return P.return_reply(b"{}", rid)

    async def _answer_dependencies(self, client: _Client, slot: _Slot, arguments: dict[str, Any] | None,
                                   rid: bytes | None) -> None:
        try:
            check_no_arguments(arguments)
            value = await self.local.query_platform_dependencies(self._execute_for_local)
            slot.data = P.return_reply(json.dumps(value).encode("utf-8"), rid)
        except LocalCommandError as err:
            slot.data = P.error_reply(err.error_class, err.desc, rid)
        except EndpointError:
            slot.data = P.error_reply(P.GENERIC_ERROR, self._stop_reason, rid)  # QEMU went away
        if not client.closed:
            client.drain()
            client.flush()


def _readdress(obj: dict[str, Any], rid: bytes | None) -> bytes:
    if rid is None:
        obj.pop("id", None)
    else:
        obj["id"] = json.loads(rid)
    return P.encode(obj)


def _with_local_commands(line: bytes, rid: bytes | None) -> bytes:
    obj = json.loads(line)
    if "return" in obj:
        obj["return"] = add_local_commands(obj["return"])
    return _readdress(obj, rid)


def _version_text(version: Any) -> str:
    try:
        q = version["qemu"]
        return f"{q['major']}.{q['minor']}.{q['micro']}"
    except (TypeError, KeyError):
        return "(unknown version)"


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _clear_stale_socket(path: str) -> None:
    """Remove a socket left by a dead endpoint; refuse a live one or a non-socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise ListenError(f"cannot listen on {path}: {err.strerror}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise ListenError(f"cannot listen on {path}: it exists and is not a socket",
                          "remove it or choose another --listen path")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            _unlink_quietly(path)  # nobody listens: stale
            return
        except OSError as err:
            raise ListenError(f"cannot listen on {path}: {err.strerror}") from None
    raise ListenError(f"cannot listen on {path}: another process is listening on it",
                      "stop the other endpoint, or choose another --listen path")
