"""Why a test that needs a real resource cannot run here, as pytest skip reasons.

Each check returns None when satisfied or a reason that names what is missing
and how to get it, so a skipped run tells the reader what to install.
MARKERS maps each marker a test carries for what it needs (pyproject.toml
declares them) to its checks; tests/conftest.py skips a marked test whose
checks fail, with these reasons.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from . import paths
from .shim import gcc_binary

SETUP_HINT = "run scripts/setup-host as root"


def running_kernel() -> tuple[int, int]:
    """This machine's kernel as (major, minor), read from uname, not through the package's own parser."""
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()))


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


PG_ADMIN = os.environ.get("VMPLATFORM_TEST_PG", "postgresql:///postgres")
PLACEMENT_VENV = Path(os.environ.get("VMPLATFORM_PLACEMENT_VENV", Path(__file__).parents[2] / ".venv-placement"))
LIBVIRT_QEMU = Path("/usr/bin/qemu-system-x86_64")   # the emulator libvirt's domain XML in tests/data names


@functools.cache
def missing_postgres() -> str | None:
    """A server reachable at $VMPLATFORM_TEST_PG (default: the local one over its Unix socket)."""
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed (the fleet extra: pip install -e '.[fleet]')"
    import psycopg

    try:
        psycopg.connect(PG_ADMIN.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3).close()
    except psycopg.OperationalError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"no PostgreSQL server at {PG_ADMIN} ({first}); start one with scripts/start-postgres"
    return None


def missing_libvirtd() -> str | None:
    if os.geteuid() != 0:
        return "not root: the libvirtd system daemon and its mount namespace need root"
    for tool in ("libvirtd", "virsh", "unshare", "nsenter"):
        if shutil.which(tool) is None:
            return (f"{tool} is not installed (apt-get install -t bookworm-backports libvirt-daemon-system "
                    f"libvirt-clients libvirt-daemon-driver-qemu; {SETUP_HINT})")
    if not LIBVIRT_QEMU.exists():
        return f"{LIBVIRT_QEMU} is not installed ({SETUP_HINT})"
    for target in ("/etc/libvirt/hooks", "/etc/libvirt/qemu.conf"):
        if not Path(target).exists():
            return f"{target} does not exist (incomplete libvirt installation; {SETUP_HINT})"
    return None


def missing_chromium() -> str | None:
    if shutil.which("chromium") is None:
        return f"no chromium on PATH (Debian's chromium package; {SETUP_HINT})"
    return None


def missing_placement() -> str | None:
    if not (PLACEMENT_VENV / "bin" / "placement-manage").exists():
        return (f"no OpenStack Placement venv at {PLACEMENT_VENV} (scripts/setup-host creates it with "
                "openstack-placement from PyPI)")
    return None


def missing_kernel_tools() -> str | None:
    missing = [t for t in ("apt-get", "dpkg-deb") if shutil.which(t) is None]
    if missing:
        return f"no {', '.join(missing)}: the real-kernel tests download Debian kernel packages"
    return None


Check = Callable[[], "str | None"]

# What each marker needs; a marked test is skipped, with every reason, when one is missing.
MARKERS: dict[str, tuple[Check, ...]] = {
    "root": (missing_root, missing_tun),
    "qemu": (missing_qemu,),
    "guest": GUEST_CHECKS,
    "postgres": (missing_postgres,),
    "libvirtd": (missing_libvirtd,),
    "chromium": (missing_chromium,),
    "placement": (missing_placement,),
    "kernels": (missing_qemu, missing_busybox, missing_kernel_tools),
}
# A test marked ``guest`` also has what ``root`` and ``qemu`` ask for.
IMPLIES: dict[str, frozenset[str]] = {
    "guest": frozenset({"root", "qemu"}),
    "libvirtd": frozenset({"qemu"}),
    "kernels": frozenset({"qemu"}),
}


def unmet(markers: Iterable[str]) -> list[str]:
    """Every reason a test carrying ``markers`` cannot run here (none: it can)."""
    checks: list[Check] = []
    for name in markers:
        for check in MARKERS.get(name, ()):
            if check not in checks:
                checks.append(check)
    return [r for r in (check() for check in checks) if r]


def covered(markers: Iterable[str]) -> frozenset[str]:
    """The markers ``markers`` stand for, implied ones included."""
    out = set(markers)
    for name in list(out):
        out |= IMPLIES.get(name, frozenset())
    return frozenset(out)


def skip_unless(*checks: Callable[[], str | None]) -> None:
    """pytest.skip with every unmet requirement listed (not just the first)."""
    from .usage import checked

    checked(checks)
    reasons = [r for r in (check() for check in checks) if r]
    if reasons:
        pytest.skip("; ".join(reasons))


def require_guest() -> None:
    skip_unless(*GUEST_CHECKS)


def require_guest_and_shim() -> None:
    skip_unless(*GUEST_CHECKS, missing_gcc)
