"""A fake host: a probe that answers from a given feature set, no syscalls."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from vmplatform.model.features import Catalog
from vmplatform.model.report import Evidence, FeatureResult, FeatureStatus, HostIdentity, HostReport
from vmplatform.records import field, record, replace


@record
class FakeHost:
    """A simulated host. Features in ``supported`` are supported, features in
    ``unknown`` are unknown (value: the reason), every other catalog feature is
    unsupported."""

    hostname: str = "fake-host"
    kernel_release: str = "0.0.0-fake"
    supported: frozenset[str] = frozenset()
    unknown: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    arch: str = "x86_64"
    os_release: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    evidence_note: str = "fake host"

    @classmethod
    def with_features(cls, features: Iterable[str], *, hostname: str | None = None,
                      kernel_release: str | None = None, os_release: Mapping[str, str] | None = None) -> FakeHost:
        """A fake host supporting ``features``; the other fields keep their defaults unless given."""
        host = cls(supported=frozenset(features))
        return replace(host, hostname=hostname or host.hostname, kernel_release=kernel_release or host.kernel_release,
                       os_release=host.os_release if os_release is None else os_release)

    def run(self, catalog: Catalog) -> HostReport:
        results = []
        for feat in catalog:
            if feat.id in self.unknown:
                status, outcome = FeatureStatus.UNKNOWN, self.unknown[feat.id]
            elif feat.id in self.supported:
                status, outcome = FeatureStatus.SUPPORTED, "present"
            else:
                status, outcome = FeatureStatus.UNSUPPORTED, "absent"
            results.append(FeatureResult(feat.id, status, Evidence(
                check=f"{self.evidence_note}: {feat.probe.method}", outcome=outcome)))
        return HostReport(
            host=HostIdentity(self.hostname, self.kernel_release, "", self.arch,
                              MappingProxyType(dict(self.os_release))),
            results=tuple(results),
            probed_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).isoformat(),
            probe_mode="fake", generator="vmplatform fake host")
