"""The one boundary where ``qemu.qmp``'s exceptions become vmplatform's.

vmplatform talks to QEMU's own QMP monitor with qemu.qmp's ``QMPClient``
(machine import, ``analyze --qmp``, ``check --qmp``, ``migrate``, the test
harness's QEMU processes). Only this module imports qemu.qmp; everything
else holds a :class:`QmpSession` and meets only vmplatform's errors::

    qemu.qmp raises                                  QmpSession raises
    ImportError: qemu.qmp is not installed           QmpLibraryMissing (the ``qmp`` extra)
    ExecuteError: QEMU answered with an error        QmpReplyError (QEMU's class and desc kept)
    ConnectError (OSError, EOFError, GreetingError,  QmpConnectError (``refused``: nothing listens yet)
      NegotiationError inside); no greeting in time
    ExecInterruptedError, StateError, EOFError,      QmpLostError: the connection is gone
      OSError, ProtocolError during a command

Leaving a session never raises: qemu.qmp re-raises the reader's failure from
``disconnect()``, which is moot once vmplatform is done with the monitor.
Cancellation (``CancelledError``) is never wrapped.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import Mapping
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from vmplatform.errors import QemuError

if TYPE_CHECKING:
    from qemu.qmp import QMPClient


class QmpLibraryMissing(QemuError):
    """qemu.qmp, which the ``qmp`` extra installs, cannot be imported."""


def require_library() -> ModuleType:
    """qemu.qmp, or :class:`QmpLibraryMissing` saying how to get it (check before starting a QEMU)."""
    try:
        import qemu.qmp
    except ImportError as err:
        raise QmpLibraryMissing(f"talking to QEMU's QMP monitor needs the Python package qemu.qmp ({err})",
                                "install the QMP extra: pip install 'vmplatform[qmp]'") from err
    return qemu.qmp


class QmpConnectError(QemuError):
    """QEMU's QMP socket cannot be reached, or what answers there does not speak QMP."""

    def __init__(self, message: str, hint: str = "", *, refused: bool = False) -> None:
        super().__init__(message, hint)
        self.refused = refused


class QmpLostError(QemuError):
    """The QMP connection went away while vmplatform was using it (QEMU exited or hung up)."""


class QmpReplyError(QemuError):
    """QEMU answered a command with an error reply; ``error_class`` and ``desc`` are QEMU's own."""

    def __init__(self, command: str, error_class: str, desc: str) -> None:
        super().__init__(f"{command}: {desc}")
        self.command = command
        self.error_class = error_class
        self.desc = desc


def _unreachable(socket: str, err: BaseException) -> str:
    """Why connecting to ``socket`` failed, in words (qemu.qmp wraps the OS error)."""
    root = getattr(err, "exc", None) or err.__cause__ or err
    if isinstance(root, FileNotFoundError):
        return "no such file"
    if isinstance(root, ConnectionRefusedError):
        try:
            is_socket = stat.S_ISSOCK(os.stat(socket).st_mode)
        except OSError:
            is_socket = False
        return "nothing is listening on it" if is_socket else "it is not a socket"
    if isinstance(root, OSError) and root.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if isinstance(root, EOFError):
        return "it hung up before greeting"
    return str(err) or type(root).__name__


class QmpSession:
    """One connection to a QMP monitor: ``execute`` and ``disconnect`` with vmplatform's errors."""

    def __init__(self, client: QMPClient, socket: str) -> None:
        self._client = client
        self.socket = socket

    @classmethod
    async def connect(cls, socket: str, *, timeout: float, hint: str = "") -> QmpSession:
        """Connect and negotiate within ``timeout`` seconds; raises :class:`QmpConnectError`
        (:class:`QmpLibraryMissing` without qemu.qmp)."""
        qmp = require_library()
        client = qmp.QMPClient("vmplatform")
        try:
            await asyncio.wait_for(client.connect(socket), timeout)
        except TimeoutError:
            await cls(client, socket).disconnect()
            raise QmpConnectError(f"QMP socket {socket} did not greet within {timeout:.0f} s (another client "
                                  "holds it?)", hint) from None
        except (qmp.QMPError, OSError, EOFError) as err:
            await cls(client, socket).disconnect()
            why = _unreachable(socket, err)
            raise QmpConnectError(f"cannot connect to QMP socket {socket}: {why}", hint,
                                  refused=why == "nothing is listening on it") from err
        return cls(client, socket)

    async def execute(self, command: str, arguments: Mapping[str, object] | None = None) -> Any:
        """QEMU's ``return`` value; :class:`QmpReplyError` for an error reply, :class:`QmpLostError`
        when the connection is gone."""
        from qemu.qmp import ExecuteError, QMPError

        try:
            return await self._client.execute(command, arguments)
        except ExecuteError as err:
            raise QmpReplyError(command, str(err.error_class), str(err.error.error.desc)) from None
        except (QMPError, OSError, EOFError) as err:
            why = str(err) or type(err).__name__
            raise QmpLostError(f"{command}: the QMP connection to {self.socket} is gone ({why})",
                               "is QEMU still running?") from err

    async def execute_for_readers(self, command: str, arguments: Mapping[str, object] | None) -> Any:
        """:meth:`execute` with QEMU's error replies as LocalCommandError: the contract of
        :data:`vmplatform.qmp.local.Execute`, which the shared readers (dependencies, platform record) take."""
        from vmplatform.qmp.local import LocalCommandError

        try:
            return await self.execute(command, arguments)
        except QmpReplyError as err:
            raise LocalCommandError(err.desc, err.error_class) from None

    async def disconnect(self) -> None:
        """Close the connection; never raises (see the module docstring)."""
        from qemu.qmp import QMPError

        try:
            await self._client.disconnect()
        except (QMPError, OSError, EOFError):
            pass  # the reader's failure, re-raised by qemu.qmp: the connection is closed either way

    async def __aenter__(self) -> QmpSession:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.disconnect()
