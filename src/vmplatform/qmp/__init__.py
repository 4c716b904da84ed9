"""QMP endpoint: QEMU's monitor, passed through, plus vmplatform's own commands.

* :mod:`.protocol` -- the wire format: framing, request checks, replies (no I/O);
* :mod:`.local` -- ``query-platforms`` and ``query-platform-dependencies``;
* :mod:`.errors` -- the endpoint's run states and errors;
* :mod:`.client` -- one client connection: replies in request order, flow control;
* :mod:`.upstream` -- the connection to QEMU: handshake, id rewriting, commands in flight;
* :mod:`.endpoint` -- the asyncio server multiplexing clients onto QEMU's monitor.

Run it with ``vmplatform qmp --connect QEMU_QMP_SOCKET --listen SOCKET``.
"""

from __future__ import annotations

from vmplatform.qmp.endpoint import Endpoint
from vmplatform.qmp.errors import EndpointError, ExecuteError, ListenError, Runstate, StateError, UpstreamError
from vmplatform.qmp.local import COMMANDS, LocalCommandError, LocalCommands

__all__ = ["COMMANDS", "Endpoint", "EndpointError", "ExecuteError", "ListenError", "LocalCommandError",
           "LocalCommands", "Runstate", "StateError", "UpstreamError"]
