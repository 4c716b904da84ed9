"""Who the host is: hostname, kernel, OS, architecture."""

from __future__ import annotations

import os
import platform
from types import MappingProxyType

from vmplatform.model.report import HostIdentity

# UBUNTU_CODENAME: the Ubuntu base of a derivative (Linux Mint), which picks its default platform
_OS_KEYS = ("ID", "VERSION_ID", "PRETTY_NAME", "ID_LIKE", "VERSION_CODENAME", "UBUNTU_CODENAME")


def local_identity() -> HostIdentity:
    u = os.uname()
    try:  # /etc/os-release, else /usr/lib/os-release (os-release(5))
        os_release = platform.freedesktop_os_release()
    except OSError:
        os_release = {}
    return HostIdentity(hostname=u.nodename, kernel_release=u.release, kernel_version=u.version, arch=u.machine,
                        os_release=MappingProxyType({k: v for k, v in os_release.items() if k in _OS_KEYS}))
