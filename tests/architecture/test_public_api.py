"""The public surface is pinned: every exported name resolves, and nothing is exported by accident."""

from __future__ import annotations

import vmplatform

EXPECTED = {
    "AppliesTo", "Backend", "Catalog", "Category", "DataFileError", "Device", "Evidence", "FakeHost",
    "FeatureResult", "FeatureStatus", "GovernedProperty", "HostFeature", "HostIdentity", "HostLacksFeatures",
    "HostReport", "HostReportError", "LinuxProbe", "MachineCatalog", "MissingFeature", "Platform", "PlatformSet",
    "PlatformSupport", "ProbeError", "QemuError", "Resolution", "SupportReport", "UnknownNameError", "UsageError",
    "VmConfig", "VmplatformError", "__version__", "default_catalog", "default_machine_catalog", "evaluate",
    "load_catalog", "load_platforms", "probe_host", "require_host", "resolve",
}


def test_all_is_pinned() -> None:
    assert set(vmplatform.__all__) == EXPECTED


def test_every_export_resolves() -> None:
    for name in vmplatform.__all__:
        assert getattr(vmplatform, name) is not None, name


def test_errors_share_one_root() -> None:
    for name in vmplatform.__all__:
        obj = getattr(vmplatform, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, vmplatform.VmplatformError), name
