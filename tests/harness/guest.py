"""One QEMU process running the test guest on a TAP backend, as a context manager.

Everything a guest owns (QEMU process, its TAP device, QMP connection, work
directory with serial log, stderr log and sockets) is released in close(),
which __exit__ always calls, so a failing assertion cannot leak a QEMU or
a TAP device into the next test.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import paths
from .initramfs import FEATURES_TAG, READY_TAG, TICK_TAG, build_initramfs
from .qmp import QMPSession
from .shim import preload_env
from .virtio import VirtioStatus, parse_sysfs_bitstring

NET0_VIRTIO_PATH = "/machine/peripheral/net0/virtio-backend"
DEFAULT_APPEND = "console=ttyS0 quiet panic=-1"
# Under TCG on a busy 2-CPU CI box the guest needs ~6 s; leave a wide margin.
DEFAULT_BOOT_TIMEOUT = 120.0
_IFNAMSIZ = 16


class GuestError(RuntimeError):
    """The guest or its QEMU did not behave; the message carries the logs' tails."""


def _unique_tap_name() -> str:
    # Kernel interface names are at most 15 characters; random, not pid-based,
    # so parallel test runs (and leftovers of a killed run) cannot collide.
    while True:
        name = f"vmp{secrets.token_hex(4)}"
        assert len(name) < _IFNAMSIZ
        if not Path("/sys/class/net", name).exists():
            return name


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


def vmplatform_launcher(platform: str | None = None, *, qemu: str | None = None,
                        options: Sequence[str] = ()) -> list[str]:
    """Command prefix that starts the guest's QEMU through ``vmplatform qemu``.

    The front-end probes this host (under the Guest's LD_PRELOAD too, so a
    shimmed Guest's wrapper sees the shimmed host), appends the pinned
    properties to the argv and execs QEMU in the same process: the PID the
    harness signals, and ``setpriv --pdeathsig``, stay QEMU's. ``platform``
    None means no ``-platform``: the host's default, named on stderr.
    ``options`` are the front-end's own (e.g. ``--platform-dir D``).
    """
    binary = qemu or paths.qemu_binary() or "qemu-system-x86_64"
    prefix = [sys.executable, "-m", "vmplatform", "qemu", "--qemu-binary", binary, *options]
    return prefix + (["-platform", platform] if platform is not None else [])


class Guest:
    """A QEMU (TCG) running the busybox test guest with virtio-net-pci on TAP.

    Spawn it from the main thread: QEMU is started under
    ``setpriv --pdeathsig KILL`` so it dies with the test process even if
    pytest is killed, and Linux ties that signal to the spawning *thread*.

    ``launcher`` replaces the QEMU binary at the head of the command line,
    e.g. :func:`vmplatform_launcher`; it must exec QEMU (keep the PID).

    QEMU gets two QMP monitors: ``qmp_path`` for the harness's own session
    and ``aux_qmp_path`` for other clients (``vmplatform check --qmp``), as a
    QEMU socket chardev serves one client at a time.
    """

    def __init__(
        self,
        name: str,
        *,
        machine: str = "q35",
        memory_mb: int = 256,
        nic_props: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        preload: Sequence[Path] = (),
        incoming_defer: bool = False,
        qemu: str | None = None,
        append: str = DEFAULT_APPEND,
        launcher: Sequence[str] | None = None,
        nic: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.name = name
        self.machine = machine
        self.memory_mb = memory_mb
        self.nic_props = dict(nic_props or {})
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.preload = list(preload)
        self.incoming_defer = incoming_defer
        self.qemu = qemu or paths.qemu_binary() or "qemu-system-x86_64"
        self.append = append
        self.launcher = list(launcher) if launcher is not None else None
        # The NIC's arguments given the TAP name (another road than -netdev + -device key=value;
        # [] for none, e.g. to hot-plug one later with netdev_add ifname=self.tap).
        self.nic = nic
        self.tap = _unique_tap_name()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"vmp-{name}-", dir=_socket_safe_tmp()))
        self.serial_path = self.workdir / "serial.log"
        self.stderr_path = self.workdir / "stderr.log"
        self.qmp_path = self.workdir / "qmp.sock"
        self.aux_qmp_path = self.workdir / "qmp-aux.sock"
        self.migrate_path = self.workdir / "migrate.sock"
        self.argv: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._qmp: QMPSession | None = None
        self.started_at = 0.0

    # -- lifecycle -----------------------------------------------------------

    def build_argv(self) -> list[str]:
        """The command that starts QEMU: launcher (or the binary) + QEMU's args."""
        return (self.launcher if self.launcher is not None else [self.qemu]) + self.qemu_args()

    def qemu_args(self) -> list[str]:
        """QEMU's own arguments (no binary)."""
        device = ",".join(
            ["virtio-net-pci", "netdev=n0", "id=net0"] + [f"{k}={v}" for k, v in self.nic_props.items()]
        )
        argv = [
            "-name", f"guest={self.name}",
            "-accel", "tcg",
            "-machine", self.machine,
            "-m", str(self.memory_mb),
            "-nodefaults", "-no-user-config",
            "-display", "none",
            # A file backend needs no reader thread and survives QEMU's death
            # for post-mortem reading.
            "-serial", f"file:{self.serial_path}",
            "-kernel", str(paths.kernel_image()),
            "-initrd", str(build_initramfs()),
            "-append", self.append,
            *(self.nic(self.tap) if self.nic is not None else
              ["-netdev", f"tap,id=n0,ifname={self.tap},script=no,downscript=no", "-device", device]),
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-qmp", f"unix:{self.aux_qmp_path},server=on,wait=off",
        ]
        if self.incoming_defer:
            argv += ["-incoming", "defer"]
        return argv + self.extra_args

    def start(self, qmp_timeout: float = 30.0) -> Guest:
        try:
            self.argv = self.build_argv()
            self._spawn()
            self._qmp = QMPSession(self.name)
            self._qmp.connect(str(self.qmp_path), qmp_timeout, self.alive)
        except BaseException as exc:
            # __exit__ does not run when __enter__ raises: clean up here.
            logs = self._logs()
            self.close()
            if isinstance(exc, Exception):
                raise GuestError(f"{self.name}: QEMU did not come up: {exc}\n{logs}") from exc
            raise
        return self

    def spawn_env(self) -> dict[str, str]:
        """The environment QEMU (and the launcher, if any) runs with."""
        return preload_env(self.preload, {**os.environ, **self.extra_env})

    def _spawn(self) -> None:
        deathsig = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
        self.started_at = time.monotonic()
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                deathsig + self.argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                env=self.spawn_env(),
            )

    def close(self) -> None:
        """Stop QEMU, wait for its TAP device to vanish, remove the work dir."""
        if self._qmp is not None:
            self._qmp.close()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._remove_tap()
        if os.environ.get("VMPLATFORM_KEEP_GUEST_DIRS") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _remove_tap(self) -> None:
        # QEMU's TAP is not persistent: the kernel deletes it when the last fd
        # closes, which can lag QEMU's exit slightly. Only a persistent leftover
        # (someone else's doing) would need an explicit delete.
        dev = Path("/sys/class/net", self.tap)
        deadline = time.monotonic() + 5
        while dev.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if dev.exists():
            subprocess.run(["ip", "link", "delete", self.tap], check=False, capture_output=True)

    def __enter__(self) -> Guest:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            # pytest shows captured stderr with the failure: the guest's view
            # of things is usually the fastest way to the cause.
            print(f"--- guest {self.name} (tap {self.tap}) at failure ---\n{self._logs()}", file=sys.stderr)
        self.close()

    # -- process -------------------------------------------------------------

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_exit(self, timeout: float) -> int | None:
        """QEMU's exit status, or None if it is still running after timeout."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    # -- serial console ------------------------------------------------------

    def serial_text(self) -> str:
        if not self.serial_path.exists():
            return ""
        # The guest tty emits CRLF; normalise so patterns can use ^...$.
        return self.serial_path.read_text(errors="replace").replace("\r\n", "\n")

    def wait_for_serial(self, pattern: str, timeout: float = DEFAULT_BOOT_TIMEOUT, start: int = 0) -> re.Match[str]:
        """First match of ``pattern`` (multiline regex) at or after offset ``start``."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            exited = not self.alive()
            match = regex.search(self.serial_text(), start)
            if match:
                return match
            if exited:
                raise GuestError(f"{self.name}: QEMU exited before serial showed {pattern!r}\n{self._logs()}")
            if time.monotonic() > deadline:
                raise GuestError(f"{self.name}: no {pattern!r} on serial within {timeout:.0f}s\n{self._logs()}")
            time.sleep(0.1)

    def wait_ready(self, timeout: float = DEFAULT_BOOT_TIMEOUT) -> float:
        """Wait for VMP-READY; return seconds since QEMU was started."""
        self.wait_for_serial(rf"^{READY_TAG}$", timeout)
        return time.monotonic() - self.started_at

    def serial_features(self, timeout: float = 0, start: int = 0) -> int:
        """Negotiated virtio-net features as the guest kernel printed them
        (first line at or after offset ``start``; the guest repeats it every tick)."""
        match = self.wait_for_serial(rf"^{FEATURES_TAG} ([01]+)$", timeout=timeout, start=start)
        return parse_sysfs_bitstring(match.group(1))

    def last_tick(self) -> int | None:
        ticks = re.findall(rf"^{TICK_TAG} (\d+)$", self.serial_text(), re.MULTILINE)
        return int(ticks[-1]) if ticks else None

    def wait_tick_after(self, tick: int, timeout: float = 30) -> int:
        """Wait for a heartbeat later than ``tick`` (the guest is running); return it."""
        deadline = time.monotonic() + timeout
        while True:
            last = self.last_tick()
            if last is not None and last > tick:
                return last
            if time.monotonic() > deadline or not self.alive():
                raise AssertionError(f"{self.name}: no {TICK_TAG} after {tick} (last {last})\n"
                                     f"{self.serial_text()[-800:]}")
            time.sleep(0.1)

    # -- QMP -----------------------------------------------------------------

    @property
    def qmp(self) -> QMPSession:
        if self._qmp is None:
            raise GuestError(f"{self.name}: not started")
        return self._qmp

    def virtio_status(self, path: str = NET0_VIRTIO_PATH) -> VirtioStatus:
        status: dict[str, Any] = self.qmp.execute_dict("x-query-virtio-status", {"path": path})
        return VirtioStatus.from_qmp(status)

    @property
    def incoming_uri(self) -> str:
        return f"unix:{self.migrate_path}"

    def _logs(self) -> str:
        return (
            f"argv: {' '.join(self.argv)}\n"
            f"serial (tail):\n{_tail(self.serial_text())}\n"
            f"stderr (tail):\n{_tail(self.stderr_text())}"
        )


def _socket_safe_tmp() -> str:
    # sun_path is 108 bytes; a long $TMPDIR would make QEMU's -qmp unix: fail.
    tmp = tempfile.gettempdir()
    return tmp if len(tmp) <= 40 else "/tmp"
