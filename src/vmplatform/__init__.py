"""vmplatform: a guest ABI independent of the host kernel, for QEMU.

The public API (the CLI is a thin layer over it)::

    from vmplatform import load_platforms, probe_host, evaluate
    report = probe_host()                       # real ioctls on this host
    support = evaluate(report, load_platforms())
    print(support.default.name)                 # latest platform this host supports

Names are loaded on first use (PEP 562), so ``import vmplatform`` and the CLI
start fast; heavy parts (QEMU, QMP, stores) stay in their own modules.
"""

from __future__ import annotations

import importlib
TYPE_CHECKING = False  # importing typing costs CLI start-up time; only mypy needs it
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "VmplatformError": "errors", "DataFileError": "errors", "UnknownNameError": "errors",
    "HostReportError": "errors", "ProbeError": "errors", "HostLacksFeatures": "errors",
    "MissingFeature": "errors", "QemuError": "errors", "UsageError": "errors",
    "AppliesTo": "features", "Catalog": "features", "Category": "features", "GovernedProperty": "features",
    "HostFeature": "features", "default_catalog": "features", "load_catalog": "features",
    "Platform": "platforms", "PlatformSet": "platforms", "load_platforms": "platforms",
    "Evidence": "report", "FeatureResult": "report", "FeatureStatus": "report", "HostIdentity": "report",
    "HostReport": "report", "PlatformSupport": "support", "SupportReport": "support", "evaluate": "support",
    "Resolution": "resolve", "VmConfig": "resolve", "Device": "resolve", "Backend": "resolve",
    "resolve": "resolve", "require_host": "resolve",
    "MachineCatalog": "machines", "default_machine_catalog": "machines",
    "FakeHost": "probe.fake", "LinuxProbe": "probe.linux",
}

__all__ = sorted([*_EXPORTS, "__version__", "probe_host"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vmplatform' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vmplatform.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def probe_host(catalog: Any = None, *, userns: bool = True) -> Any:
    """Probe this host with real Linux ioctls (never launches QEMU); returns a HostReport."""
    from .features import default_catalog
    from .probe.linux import LinuxProbe

    return LinuxProbe(userns=userns).run(catalog or default_catalog())


if TYPE_CHECKING:
    from .errors import (DataFileError, HostLacksFeatures, HostReportError, MissingFeature, ProbeError,
                         QemuError, UnknownNameError, UsageError, VmplatformError)
    from .features import (AppliesTo, Catalog, Category, GovernedProperty, HostFeature, default_catalog,
                           load_catalog)
    from .machines import MachineCatalog, default_machine_catalog
    from .platforms import Platform, PlatformSet, load_platforms
    from .probe.fake import FakeHost
    from .probe.linux import LinuxProbe
    from .report import Evidence, FeatureResult, FeatureStatus, HostIdentity, HostReport
    from .resolve import Backend, Device, Resolution, VmConfig, require_host, resolve
    from .support import PlatformSupport, SupportReport, evaluate
