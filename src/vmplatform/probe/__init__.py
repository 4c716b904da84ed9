"""Host probes: the interface, the real Linux probe and a fake host.

A probe turns a :class:`~vmplatform.model.features.Catalog` into a
:class:`~vmplatform.model.report.HostReport`. :class:`~vmplatform.probe.linux.LinuxProbe`
makes the real ioctls and syscalls QEMU makes;
:class:`~vmplatform.probe.fake.FakeHost` answers from a fixed set of features,
for tests and for simulated hosts. Both satisfy :class:`~vmplatform.probe.base.Prober`.
Submodules are imported on first use, to keep CLI start-up fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmplatform.probe.base import Prober
    from vmplatform.probe.fake import FakeHost
    from vmplatform.probe.linux import LinuxProbe

_EXPORTS = {"FakeHost": "fake", "LinuxProbe": "linux", "Prober": "base"}
__all__ = ["FakeHost", "LinuxProbe", "Prober"]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vmplatform.probe' has no attribute {name!r}")
    return getattr(importlib.import_module(f"vmplatform.probe.{_EXPORTS[name]}"), name)
