"""Loading a device's module the way opening its node does.

QEMU opens /dev/vhost-net, /dev/vhost-vsock and /dev/kvm with O_RDWR and
nothing else. On a host whose node exists (devtmpfs, or the static nodes
``kmod static-nodes`` creates at boot from ``modules.devname``), that open
makes the kernel load the module through its ``char-major-MAJ-MIN`` alias
(drivers/char/misc.c misc_open: ``request_module("char-major-%d-%d", ...)``).
When the node is absent the probe does the same thing QEMU's open would have
done had the static node existed: as root it creates a private node with the
major:minor ``modules.devname`` lists, opens it once (the kernel autoloads the
module, and devtmpfs then creates /dev/NAME), and removes it.

The outcome tells an absent module apart from an absent driver: "not loaded"
(the module exists for this kernel but could not be loaded here) is not "not
built".
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from vmplatform.records import record

MODULE_DIRS = (Path("/lib/modules"), Path("/usr/lib/modules"))


@record
class DevName:
    """One ``modules.devname`` line: ``vhost_vsock vhost-vsock c10:241``."""

    module: str
    node: str
    major: int
    minor: int


def devname(node: str, release: str | None = None, dirs: tuple[Path, ...] = MODULE_DIRS) -> DevName | None:
    """The module that provides /dev/``node`` for the running kernel, from its modules.devname."""
    release = release or os.uname().release
    for base in dirs:
        try:
            text = (base / release / "modules.devname").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == node and parts[2][:1] == "c" and ":" in parts[2]:
                major, _, minor = parts[2][1:].partition(":")
                if major.isascii() and major.isdigit() and minor.isascii() and minor.isdigit():
                    return DevName(parts[0], parts[1], int(major), int(minor))
    return None


def has_module_index(release: str | None = None, dirs: tuple[Path, ...] = MODULE_DIRS) -> bool:
    release = release or os.uname().release
    return any((base / release / "modules.devname").is_file() for base in dirs)


@record
class Autoload:
    """What trying to load a device's module did."""

    attempted: bool
    loaded: bool          # /dev/NODE exists afterwards
    detail: str


def autoload(device: str, entry: DevName) -> Autoload:
    """Open a private char node MAJ:MIN once, as opening the static /dev node would (needs CAP_MKNOD)."""
    import shutil  # only when a node is missing: keeps 'probe' start-up lean
    import tempfile

    if os.geteuid() != 0:
        return Autoload(False, False, f"module {entry.module} not loaded, and creating a node to autoload it "
                                      "needs root (or: modprobe " + entry.module + ")")
    tmp = tempfile.mkdtemp(prefix="vmp-autoload-")
    try:
        node = os.path.join(tmp, entry.node)
        os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(entry.major, entry.minor))
        try:
            fd = os.open(node, os.O_RDWR | os.O_CLOEXEC)
        except OSError as err:
            return Autoload(True, os.path.exists(device),
                            f"open of char {entry.major}:{entry.minor} (alias char-major-{entry.major}-"
                            f"{entry.minor}) failed: {errno.errorcode.get(err.errno or 0, err.strerror)}; module "
                            f"{entry.module} not loaded")
        os.close(fd)
        if os.path.exists(device):
            return Autoload(True, True, f"loaded {entry.module} through char-major-{entry.major}-{entry.minor}")
        return Autoload(True, False, f"char {entry.major}:{entry.minor} opens (alias char-major-{entry.major}-"
                                     f"{entry.minor}), but {device} did not appear")
    except OSError as err:
        return Autoload(True, False, f"could not create a node to autoload {entry.module}: {err.strerror}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
