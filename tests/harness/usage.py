"""What a running test actually used, against the markers it carries.

An audit hook (PEP 578) sees every process the test process starts
(``subprocess.Popen`` and asyncio's subprocesses alike): a QEMU, the guest
kernel, libvirtd, Chromium, the Placement venv, Debian's packaging tools.
The requirement helpers report too (``skip_unless(missing_root)`` means the
test needs root). tests/conftest.py fails a test that used something its
markers do not declare, so ``pytest -m "not qemu"`` runs no QEMU of its own.
Processes a child starts on its own (QEMU exec'd by ``vmplatform qemu`` run
as a subprocess) are seen only through its argv naming the binary. Not counted: the
one-time import of the installed QEMU's machine types by a dry run (see _catalog_import).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence

from . import paths, requirements


def _args(argv: object) -> list[str]:
    if isinstance(argv, (str, bytes, os.PathLike)):
        return [os.fsdecode(argv)]
    if isinstance(argv, Sequence):
        return [os.fsdecode(a) if isinstance(a, (str, bytes, os.PathLike)) else str(a) for a in argv]
    return []


def _names(args: list[str]) -> set[str]:
    return {os.path.basename(a) for a in args}


def _real_qemu(arg: str) -> bool:
    if not os.path.basename(arg).startswith("qemu-system-"):
        return False
    found = arg if os.sep in arg else shutil.which(arg)
    # a stand-in a test wrote under its tmp_path is not a QEMU
    return found is not None and not os.path.realpath(found).startswith(tempfile.gettempdir() + os.sep)


def _catalog_import(args: list[str]) -> bool:
    """The front-end reading the machine types of the installed QEMU (``-machine none``, ``-help``): once
    per run (cached), and without a QEMU the offline commands use the packaged snapshot instead."""
    pairs = set(zip(args, args[1:], strict=False))
    return ("-machine", "none") in pairs or args[1:] == ["-help"]


def _qemu(args: list[str]) -> bool:
    return any(_real_qemu(a) for a in args) and not _catalog_import(args)


def _guest(args: list[str]) -> bool:
    kernel = str(paths.kernel_image())
    return any(a == kernel for a in args)


def _placement(args: list[str]) -> bool:
    venv = str(requirements.PLACEMENT_VENV)
    return any(a.startswith(venv + os.sep) for a in args[:1])


# Which marker a started process asks for, tried in order (the first that matches).
PROCESS_MARKERS: tuple[tuple[str, Callable[[list[str]], bool]], ...] = (
    ("guest", _guest),
    ("libvirtd", lambda a: bool(_names(a[:1]) & {"libvirtd", "virtqemud"})),
    ("chromium", lambda a: bool(_names(a[:1]) & {"chromium", "chromium-browser"})),
    ("placement", _placement),
    ("postgres", lambda a: bool(_names(a) & {"initdb", "pg_ctl", "pg_ctlcluster"})),
    ("kernels", lambda a: bool(_names(a[:1]) & {"dpkg-deb"}) or a[:2] == ["apt-get", "download"]),
    ("qemu", _qemu),
)

# Which marker a requirement check stands for, when a test asks for it.
CHECK_MARKERS: dict[Callable[[], str | None], str] = {
    requirements.missing_root: "root",
    requirements.missing_tun: "root",
    requirements.missing_qemu: "qemu",
    requirements.missing_guest_kernel: "guest",
    requirements.missing_postgres: "postgres",
    requirements.missing_libvirtd: "libvirtd",
    requirements.missing_chromium: "chromium",
    requirements.missing_placement: "placement",
}


class Tracker:
    """The markers of the test running now, and what it used that they do not declare."""

    def __init__(self) -> None:
        self.markers: frozenset[str] | None = None   # None: no test is running (collection, session fixtures)
        self.undeclared: dict[str, str] = {}         # marker -> what showed the need

    def start(self, markers: Iterable[str]) -> None:
        self.markers = requirements.covered(markers)
        self.undeclared = {}

    def stop(self) -> dict[str, str]:
        found, self.markers, self.undeclared = self.undeclared, None, {}
        return found

    def used(self, marker: str, what: str) -> None:
        if self.markers is not None and marker not in self.markers:
            self.undeclared.setdefault(marker, what)

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        if event != "subprocess.Popen" or self.markers is None:
            return
        argv = _args(args[1]) or _args(args[0])
        for marker, matches in PROCESS_MARKERS:
            if matches(argv):
                self.used(marker, "started " + " ".join(argv[:4]) + (" ..." if len(argv) > 4 else ""))
                return


TRACKER = Tracker()


def install() -> None:
    """Watch this process (once; an audit hook cannot be removed)."""
    if not getattr(sys, "_vmplatform_usage_hook", False):
        sys.addaudithook(TRACKER.audit)
        sys._vmplatform_usage_hook = True  # type: ignore[attr-defined]


def checked(checks: Iterable[Callable[[], str | None]]) -> None:
    """A test asked for these requirements: it needs what they check."""
    for check in checks:
        marker = CHECK_MARKERS.get(check)
        if marker:
            TRACKER.used(marker, f"asked for {check.__name__}()")
