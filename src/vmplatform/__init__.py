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

__version__ = "0.1.0"

# the public names, by the module that defines them
_PUBLIC: dict[str, str] = {
    "errors": ("VmplatformError DataFileError UnknownNameError HostReportError ProbeError "
        "HostLacksFeatures MissingFeature QemuError UsageError"),
    "model.features": ("AppliesTo Catalog Category GovernedProperty HostFeature default_catalog "
        "load_catalog"),
    "model.platforms": "Platform PlatformSet load_platforms",
    "model.report": "Evidence FeatureResult FeatureStatus HostIdentity HostReport",
    "resolution.support": "PlatformSupport SupportReport evaluate",
    "resolution.resolve": "Resolution resolve require_host",
    "model.vm": "VmConfig Device Backend",
    "model.machines": "MachineCatalog default_machine_catalog",
    "probe.fake": "FakeHost",
    "probe.linux": "LinuxProbe",
}
_EXPORTS: dict[str, str] = {name: module for module, names in _PUBLIC.items() for name in names.split()}

__all__ = sorted([*_EXPORTS, "__version__", "probe_host"])


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vmplatform' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vmplatform.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def probe_host(catalog: object = None, *, userns: bool = True) -> object:
    """Probe this host with real Linux ioctls (never launches QEMU); returns a HostReport."""
    from vmplatform.model.features import default_catalog
    from vmplatform.probe.linux import LinuxProbe

    return LinuxProbe(userns=userns).run(catalog or default_catalog())
