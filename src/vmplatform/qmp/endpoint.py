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

Modules, one job each:

* :mod:`.errors` -- the run states and the endpoint's errors;
* :mod:`.client` -- one client: reply slots in request order, flow control;
* :mod:`.upstream` -- the connection to QEMU: handshake, id rewriting, commands in flight;
* this module -- the :class:`Endpoint` wiring them, request dispatch and the
  listening socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from vmplatform.qmp import protocol as P
from vmplatform.qmp.client import Client, Slot
from vmplatform.qmp.errors import EndpointError, ExecuteError, ListenError, Runstate, StateError, UpstreamError
from vmplatform.qmp.hotplug import DEVICE_ADD, GUARDED, NETDEV_ADD, HotplugGuard
from vmplatform.qmp.local import (
    QUERY_PLATFORM_DEPENDENCIES,
    QUERY_PLATFORMS,
    LocalCommandError,
    LocalCommands,
    add_local_commands,
    check_no_arguments,
)
from vmplatform.qmp.upstream import Transform, Upstream, readdress

__all__ = ["Endpoint", "EndpointError", "ExecuteError", "ListenError", "Runstate", "StateError", "UpstreamError"]

logger = logging.getLogger(__name__)


def _require(ep: Endpoint, state: Runstate, action: str) -> None:
    if ep.runstate is not state:
        raise StateError(action, ep.runstate, state)


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
        self._upstream: Upstream | None = None
        self._server: asyncio.AbstractServer | None = None
        self._listen_id: tuple[int, int] | None = None
        self._greeting = b""
        self._clients: dict[int, Client] = {}
        self._client_count = 0
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

    @property
    def upstream_paused(self) -> bool:
        """QEMU does not read what it is sent: clients' commands are not read either."""
        return self._upstream is not None and self._upstream.paused

    async def start(self) -> None:
        """Connect to QEMU, negotiate, then listen. Rolls back on failure."""
        _require(self, Runstate.IDLE, "start")
        self._loop = asyncio.get_running_loop()
        self._state = Runstate.CONNECTING
        started = False
        try:
            if os.path.abspath(self.listen_path) == os.path.abspath(self.connect_path):
                raise ListenError(f"--listen and --connect are the same path ({self.listen_path})",
                                  "listen on a path of your own; clients connect there instead of to QEMU")
            await self._connect_upstream()
            try:
                await self.local.attach(self._execute_upstream_for_local)
            except LocalCommandError as err:
                raise EndpointError(err.desc, "drop --platform: the endpoint reads the VM's own") from None
            await self._listen()
            started = True
        finally:  # any failure, cancellation included, rolls back what was set up; the error goes on
            if not started:
                await asyncio.shield(self._begin_stop())
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
        upstream = self._upstream
        if upstream is not None:
            upstream.answer_pending(self._stop_reason)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1)
        for client in list(self._clients.values()):
            client.flush()
            client.close()
        lost = [c.lost for c in self._clients.values()]
        if upstream is not None and upstream.transport is not None:
            upstream.transport.close()
        for task in list(self._tasks):  # cancelling them cancels the futures they wait on
            task.cancel()
        if upstream is not None:  # what is left is awaited by callers of execute()
            upstream.drop_pending()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if upstream is not None and upstream.transport is not None:
            lost.append(upstream.lost)
        if lost:
            await asyncio.wait(lost, timeout=5)
        for client in list(self._clients.values()):  # still not gone: a peer that reads nothing
            client.abort()
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
        upstream = self._upstream = Upstream(self, self.loop, self.connect_path, self.greeting_timeout)
        await upstream.connect()
        self.qemu_version = upstream.version
        self.qemu_capabilities = upstream.capabilities
        self._greeting = P.greeting(self.qemu_version, [c for c in self.qemu_capabilities if c != "oob"])

    def _up(self) -> Upstream:
        assert self._upstream is not None, "the endpoint is not connected"
        return self._upstream

    def _flush_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.flush()

    # -- UpstreamHost: what the QEMU connection reports
    def broadcast_event(self, data: bytes, touched: dict[int, Client]) -> None:
        for client in self._clients.values():
            if client.negotiated and not client.closed:
                client.event(data)
                touched[client.number] = client

    def upstream_pause_changed(self, paused: bool) -> None:
        for client in self._clients.values():
            client.update_reading()

    def upstream_closed(self, exc: Exception | None) -> None:
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
        reply = await self._up().reply_of(command, arguments)
        if "error" in reply:
            err = reply["error"]
            raise ExecuteError(command, str(err.get("class", P.GENERIC_ERROR)), str(err.get("desc", "")))
        return reply.get("return")

    async def _execute_for_local(self, command: str, arguments: Mapping[str, object] | None) -> Any:
        """:meth:`execute` for the local commands: QEMU's error replies as LocalCommandError (Execute)."""
        try:
            return await self.execute(command, arguments)
        except ExecuteError as err:
            raise LocalCommandError(err.desc, err.error_class) from None

    async def _execute_upstream_for_local(self, command: str, arguments: Mapping[str, object] | None) -> Any:
        """:meth:`_execute_upstream` with QEMU's error replies as LocalCommandError (Execute), for attach."""
        try:
            return await self._execute_upstream(command, arguments)
        except ExecuteError as err:
            raise LocalCommandError(err.desc, err.error_class) from None

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

    def _make_client(self) -> Client:
        self._client_count += 1
        return Client(self, self._client_count, self.loop)

    # -- ClientHost: what a client connection reports
    def client_connected(self, client: Client) -> None:
        transport = client.transport
        assert transport is not None
        if self._state is not Runstate.RUNNING:
            transport.abort()
            return
        self._clients[client.number] = client
        client.log.debug("connected")
        client.update_reading()
        transport.write(self._greeting)

    def client_gone(self, client: Client, exc: Exception | None) -> None:
        if self._clients.pop(client.number, None) is not None:
            client.log.debug("disconnected%s", f": {exc}" if exc else "")

    def client_data(self, client: Client, data: bytes) -> None:
        if self._state is not Runstate.RUNNING:
            return
        # Bad input gets QMP error replies, never an exception. A bug raising here costs this client
        # its connection, never the endpoint: asyncio closes the transport of a data_received that
        # raises, logging it as a fatal error, and the client is gone (client_gone).
        try:
            for frame in client.splitter.feed(data):
                if client.held:
                    client.backlog.append(frame)
                else:
                    self._request(client, frame)
        finally:
            self._flush_upstream()
        client.drain()
        client.flush()

    def _request(self, client: Client, frame: P.Frame) -> None:
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

    def _forward(self, client: Client, cmd: P.Command, rid: bytes | None, transform: Transform | None) -> None:
        try:
            self._up().forward(cmd, client, rid, transform)
        except ValueError as err:
            client.reply(P.error_reply(P.GENERIC_ERROR, str(err), rid))

    def _guarded(self, client: Client, cmd: P.Command, rid: bytes | None, guard: HotplugGuard) -> None:
        """device_add goes through the guard; netdev_add / netdev_del tell it the backends."""
        if cmd.execute != DEVICE_ADD:
            added = cmd.execute == NETDEV_ADD

            def learn(line: bytes, rid: bytes | None) -> bytes:
                obj = json.loads(line)
                if "return" in obj:
                    (guard.netdev_added if added else guard.netdev_deleted)(cmd.arguments)
                return readdress(obj, rid)

            self._forward(client, cmd, rid, learn)
            return
        slot = client.new_slot()
        client.held = True
        task = self.loop.create_task(self._device_add(client, slot, cmd, rid, guard))
        self._tasks.add(task)
        task.add_done_callback(self._device_add_done)

    async def _device_add(self, client: Client, slot: Slot, cmd: P.Command, rid: bytes | None,
                          guard: HotplugGuard) -> None:
        try:
            args = await guard.pin(cmd.arguments, self._execute_for_local)
            slot.data = readdress(await self._up().reply_of(DEVICE_ADD, args), rid)
        except LocalCommandError as err:
            client.log.info("refused: %s", err.desc)
            slot.data = P.error_reply(err.error_class, err.desc, rid)
        except EndpointError:
            slot.data = P.error_reply(P.GENERIC_ERROR, self._stop_reason, rid)  # QEMU went away
        finally:
            task = asyncio.current_task()
            if slot.data is None and not (task is not None and task.cancelling()):
                # a bug raised: it costs this command (logged by _device_add_done), never the endpoint
                # or the order of the client's replies
                slot.data = P.error_reply(P.GENERIC_ERROR, f"{DEVICE_ADD}: internal error in vmplatform (see the "
                                          "endpoint's log)", rid)
            self._release(client)

    def _device_add_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("internal error pinning device_add", exc_info=task.exception())

    def _release(self, client: Client) -> None:
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

    def _negotiate(self, client: Client, arguments: dict[str, Any] | None, rid: bytes | None) -> bytes:
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

    async def _answer_dependencies(self, client: Client, slot: Slot, arguments: dict[str, Any] | None,
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



def _with_local_commands(line: bytes, rid: bytes | None) -> bytes:
    obj = json.loads(line)
    if "return" in obj:
        obj["return"] = add_local_commands(obj["return"])
    return readdress(obj, rid)


def _version_text(version: Any) -> str:
    try:
        q = version["qemu"]
        return f"{q['major']}.{q['minor']}.{q['micro']}"
    except (TypeError, KeyError):
        return "(unknown version)"


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
