"""Build the busybox test initramfs (gzip'd newc cpio), cached by content hash.

The archive is written in Python rather than with cpio(1) because it needs a
/dev/console character device node: without it the kernel starts /init with
no stdin/stdout and nothing reaches the serial port. Writing the node as an
archive entry needs no root and leaves nothing behind on the host.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import paths

# Bump when the layout or the init script changes in a way the hash of the
# inputs would not see (e.g. a change to the writer itself).
FORMAT_VERSION = 1

# Serial protocol the harness parses; kept here so guest.py and the init
# script cannot drift apart.
FEATURES_TAG = "VMP-FEATURES"
READY_TAG = "VMP-READY"
TICK_TAG = "VMP-TICK"
ERROR_TAG = "VMP-ERROR"

INIT_SCRIPT = f"""#!/bin/busybox sh
# PID 1 of the vmplatform test guest. Output goes to /dev/console = ttyS0.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
while read -r m; do
    [ -n "$m" ] || continue
    insmod "/lib/modules/$m" || echo "{ERROR_TAG} insmod $m"
done < /etc/modules.list
# eth0 appears asynchronously after virtio_net probes the device.
n=0
while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 300 ]; do
    usleep 100000
    n=$((n + 1))
done
ip link set eth0 up || echo "{ERROR_TAG} eth0 up"
# Negotiated features of every virtio-net device (device id 1), bit 0 first.
features() {{
    for d in /sys/bus/virtio/devices/virtio*; do
        [ "$(cat "$d/device")" = 0x0001 ] || continue
        echo "{FEATURES_TAG} $(cat "$d/features")"
    done
}}
features
echo "{READY_TAG}"
# Heartbeat: lets a test see the guest keeps running (e.g. after migration).
# Each tick repeats the features line, so a migration destination's serial
# log (which starts empty) also shows what the guest sees there.
n=0
while :; do
    features
    echo "{TICK_TAG} $n"
    n=$((n + 1))
    sleep 1
done
"""


@dataclass(frozen=True)
class _Entry:
    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _newc_header(ino: int, entry: _Entry, namesize: int) -> bytes:
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (
        ino, entry.mode, 0, 0, nlink, 0, len(entry.data),
        0, 0, entry.rdev[0], entry.rdev[1], namesize, 0,
    )
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def write_newc(entries: list[_Entry]) -> bytes:
    """Serialise entries as a newc ("070701") archive with its trailer."""
    out = bytearray()
    for ino, entry in enumerate([*entries, _Entry("TRAILER!!!", 0)], start=1):
        name = entry.name.encode() + b"\0"
        header = _newc_header(0 if entry.name == "TRAILER!!!" else ino, entry, len(name))
        out += header + name + _pad4(len(header) + len(name))
        out += entry.data + _pad4(len(entry.data))
    return bytes(out)


def _entries(busybox: Path, guest: Path) -> list[_Entry]:
    modules = [m.strip() for m in (guest / "modules.list").read_text().splitlines() if m.strip()]
    d = stat.S_IFDIR | 0o755
    entries = [_Entry(n, d) for n in ("bin", "dev", "etc", "lib", "lib/modules", "proc", "sys")]
    entries += [
        _Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        _Entry("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes()),
        _Entry("init", stat.S_IFREG | 0o755, INIT_SCRIPT.encode()),
        _Entry("etc/modules.list", stat.S_IFREG | 0o644, ("\n".join(modules) + "\n").encode()),
    ]
    entries += [
        _Entry(f"lib/modules/{m}", stat.S_IFREG | 0o644, (guest / "modules" / m).read_bytes())
        for m in modules
    ]
    return entries


def build_initramfs(cache_dir: Path | None = None) -> Path:
    """Return the path of the initramfs for the current busybox + guest modules.

    Rebuilt only when an input changes: the file name carries a hash of every
    entry, so stale archives are never reused after a kernel update.
    """
    cache = cache_dir or paths.build_cache_dir()
    entries = _entries(paths.BUSYBOX, paths.guest_dir())
    digest = hashlib.sha256(str(FORMAT_VERSION).encode())
    for e in entries:
        digest.update(f"{e.name}\0{e.mode}\0{e.rdev}\0{len(e.data)}\0".encode())
        digest.update(e.data)
    target = cache / f"initramfs-{digest.hexdigest()[:16]}.cpio.gz"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the output byte-identical for identical inputs.
    blob = gzip.compress(write_newc(entries), compresslevel=6, mtime=0)
    # Write-then-rename so a concurrent test run never boots a half-written file.
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=".initramfs-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
