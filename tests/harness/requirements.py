"""Why a real-guest test cannot run here, as pytest skip reasons.

Each check returns None when satisfied or a reason that names what is missing
and how to get it, so a skipped run tells the reader what to install.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import pytest

from . import paths
from .shim import gcc_binary

SETUP_HINT = "run scripts/setup-host as root"


def missing_root() -> str | None:
    if os.geteuid() != 0:
        return "not root: creating TAP devices needs CAP_NET_ADMIN (run the e2e tests as root)"
    return None


def missing_tun() -> str | None:
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun: the host kernel needs CONFIG_TUN (modprobe tun)"
    return None


def missing_qemu() -> str | None:
    if paths.qemu_binary() is None:
        configured = os.environ.get("VMPLATFORM_QEMU")
        where = f"VMPLATFORM_QEMU={configured} is not executable" if configured else "not on PATH"
        return f"no qemu-system-x86_64 ({where}): install qemu-system-x86 from bookworm-backports ({SETUP_HINT})"
    return None


def missing_guest_kernel() -> str | None:
    guest = paths.guest_dir()
    for needed in ("vmlinuz", "modules.list"):
        if not (guest / needed).is_file():
            return f"no guest kernel at {guest} ({needed} missing): run scripts/fetch-guest-kernel"
    for module in (guest / "modules.list").read_text().split():
        if not (guest / "modules" / module).is_file():
            return f"guest kernel at {guest} lacks modules/{module}: re-run scripts/fetch-guest-kernel"
    return None


def missing_busybox() -> str | None:
    if not os.access(paths.BUSYBOX, os.X_OK):
        return f"no static busybox at {paths.BUSYBOX}: install busybox-static"
    return None


def missing_gcc() -> str | None:
    if gcc_binary() is None:
        return "no gcc: install gcc and libc6-dev to build the LD_PRELOAD USO shim"
    return None


def missing_qmp_library() -> str | None:
    if importlib.util.find_spec("qemu.qmp") is None:
        return "Python package qemu.qmp is not installed (pip install qemu.qmp)"
    return None


GUEST_CHECKS: tuple[Callable[[], str | None], ...] = (
    missing_root, missing_tun, missing_qemu, missing_guest_kernel, missing_busybox,
    missing_qmp_library,
)


def skip_unless(*checks: Callable[[], str | None]) -> None:
    """pytest.skip with every unmet requirement listed (not just the first)."""
    reasons = [r for r in (check() for check in checks) if r]
    if reasons:
        pytest.skip("; ".join(reasons))


def require_guest() -> None:
    skip_unless(*GUEST_CHECKS)


def require_guest_and_shim() -> None:
    skip_unless(*GUEST_CHECKS, missing_gcc)
