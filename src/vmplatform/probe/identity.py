"""Who the host is: hostname, kernel, OS, architecture."""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType

from vmplatform.model.report import HostIdentity

# UBUNTU_CODENAME: the Ubuntu base of a derivative (Linux Mint), which picks its default platform
_OS_KEYS = ("ID", "VERSION_ID", "PRETTY_NAME", "ID_LIKE", "VERSION_CODENAME", "UBUNTU_CODENAME")


def parse_os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key in _OS_KEYS:
            out[key] = value
    return out


def local_identity() -> HostIdentity:
    u = os.uname()
    text = ""
    for p in (Path("/etc/os-release"), Path("/usr/lib/os-release")):
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
            break
        except OSError:
            continue
    return HostIdentity(hostname=u.nodename, kernel_release=u.release, kernel_version=u.version,
                        arch=u.machine, os_release=MappingProxyType(parse_os_release(text)))
