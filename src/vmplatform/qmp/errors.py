"""The endpoint's run states and its errors.

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

import enum

from vmplatform.errors import QemuError


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
