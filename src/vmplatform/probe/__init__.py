"""Host probes: the interface, the real Linux probe and a fake host.

A probe turns a :class:`~vmplatform.features.Catalog` into a
:class:`~vmplatform.report.HostReport`. :class:`LinuxProbe` makes the real
ioctls and syscalls QEMU makes; :class:`FakeHost` answers from a fixed set of
features, for tests and for simulated hosts.
"""

from __future__ import annotations

from typing import Protocol

from ..features import Catalog
from ..report import HostReport
from .fake import FakeHost
from .linux import LinuxProbe


class Prober(Protocol):
    def run(self, catalog: Catalog) -> HostReport:
        """Probe every catalog feature. Never raises for a missing feature."""
        ...


__all__ = ["FakeHost", "LinuxProbe", "Prober"]
