"""A per-boot cache of this host's probe, for commands that only consult it.

The front-end must not spend a probe (tens of ms, most of it the kernel
tearing the TAP down) before every QEMU start. What the probe finds only
changes when the kernel, the device nodes, BPF policy, the caller's identity
or the catalog change, so the cache key is exactly those: boot id, kernel
release and version, euid, the stat of /dev/net/tun, /dev/kvm, /dev/vhost-net
and /dev/vhost-vsock (a module loaded later creates its node),
kernel.unprivileged_bpf_disabled, LD_PRELOAD, and the catalog file. Any
change is a miss.
``vmplatform probe`` always probes and refreshes the cache; set
VMPLATFORM_NO_PROBE_CACHE=1 (or pass --no-cache) to bypass it.

The cache lives in /run/vmplatform (root) or $XDG_RUNTIME_DIR/vmplatform,
both private to the user and emptied at reboot.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from pathlib import Path

from vmplatform.errors import HostReportError
from vmplatform.model.features import Catalog
from vmplatform.model.report import HostReport, dumps, loads

NO_CACHE_ENV = "VMPLATFORM_NO_PROBE_CACHE"
_NODES = ("/dev/net/tun", "/dev/kvm", "/dev/vhost-net", "/dev/vhost-vsock")


def cache_dir() -> Path | None:
    if os.environ.get("VMPLATFORM_RUNTIME_DIR"):
        return Path(os.environ["VMPLATFORM_RUNTIME_DIR"])
    if os.geteuid() == 0:
        return Path("/run/vmplatform")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "vmplatform" if runtime else None


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return "-"


def fingerprint(catalog: Catalog) -> str:
    from vmplatform import __version__

    u = os.uname()
    # LD_PRELOAD can change what this process's ioctls see (tests emulate old kernels that way).
    parts = [__version__, _read("/proc/sys/kernel/random/boot_id"), u.release, u.version, str(os.geteuid()),
             _read("/proc/sys/kernel/unprivileged_bpf_disabled"), os.environ.get("LD_PRELOAD", "")]
    for node in (*_NODES, catalog.path):
        try:
            st = os.stat(node)
            parts.append(f"{node}:{st.st_dev}:{st.st_ino}:{st.st_mode:o}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            parts.append(f"{node}:absent")
    text = "\n".join(parts)
    return f"{zlib.crc32(text.encode()):08x}{zlib.adler32(text.encode()):08x}"


def _path(catalog: Catalog) -> Path | None:
    d = cache_dir()
    return None if d is None else d / f"host-report-{fingerprint(catalog)}.json"


def store(report: HostReport, catalog: Catalog) -> None:
    path = _path(catalog)
    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in path.parent.glob("host-report-*.json"):
            old.unlink(missing_ok=True)
        # An unnamed file (O_TMPFILE) linked in once complete: a probe killed while
        # writing leaves nothing behind, and no reader ever sees half a report.
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fd = os.open(path.parent, os.O_WRONLY | os.O_TMPFILE, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(dumps(report))
                fh.flush()
                path.unlink(missing_ok=True)
                # linkat(AT_SYMLINK_FOLLOW) names the open file; a dir fd makes os.link use linkat.
                os.link(f"/proc/self/fd/{fh.fileno()}", path.name, dst_dir_fd=dir_fd, follow_symlinks=True)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # an unwritable runtime dir (or one without O_TMPFILE) only costs speed


def cached_probe(catalog: Catalog, probe: Callable[[], HostReport], *, write: bool = True) -> HostReport:
    """The cached report of this host if still valid, else a fresh probe (stored unless ``write`` is false:
    the libvirt hook reads the cache but writes nothing)."""
    if os.environ.get(NO_CACHE_ENV) == "1":
        return probe()
    path = _path(catalog)
    if path is not None:
        try:
            return loads(path.read_text(encoding="utf-8"), str(path))
        except (OSError, HostReportError):
            pass
    report = probe()
    if write:
        store(report, catalog)
    return report
