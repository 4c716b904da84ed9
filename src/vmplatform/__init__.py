"""vmplatform: a guest ABI independent of the host kernel, for QEMU.

The public API (the CLI is a thin layer over it)::

    from vmplatform import default_catalog, load_platforms, probe_host, evaluate
    report = probe_host()                       # real ioctls on this host
    support = evaluate(report, load_platforms())
    print(support.default.name)                 # latest platform this host supports

Heavy parts (QEMU, QMP, stores) are imported lazily by their modules.
"""

from __future__ import annotations

__version__ = "0.1.0"

import logging as _logging

from .errors import (DataFileError, HostLacksFeatures, HostReportError, MissingFeature, ProbeError,
                     QemuError, UnknownNameError, UsageError, VmplatformError)
from .features import AppliesTo, Catalog, Category, GovernedProperty, HostFeature, default_catalog, load_catalog
from .platforms import Platform, PlatformSet, load_platforms
from .report import Evidence, FeatureResult, FeatureStatus, HostIdentity, HostReport
from .support import PlatformSupport, SupportReport, evaluate

_logging.getLogger(__name__).addHandler(_logging.NullHandler())


def probe_host(catalog: Catalog | None = None, *, userns: bool = True) -> HostReport:
    """Probe this host with real Linux ioctls; never launches QEMU."""
    from .probe.linux import LinuxProbe

    return LinuxProbe(userns=userns).run(catalog or default_catalog())


__all__ = [
    "AppliesTo", "Catalog", "Category", "DataFileError", "Evidence", "FeatureResult", "FeatureStatus",
    "GovernedProperty", "HostFeature", "HostIdentity", "HostLacksFeatures", "HostReport",
    "HostReportError", "MissingFeature", "Platform", "PlatformSet", "PlatformSupport", "ProbeError",
    "QemuError", "SupportReport", "UnknownNameError", "UsageError", "VmplatformError", "__version__",
    "default_catalog", "evaluate", "load_catalog", "load_platforms", "probe_host",
]
