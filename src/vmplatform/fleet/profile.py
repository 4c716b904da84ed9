"""A host's equivalence class: the status of every feature its report gives.

Two hosts with the same profile get the same answer from every feature rule
(:func:`vmplatform.resolution.support.evaluate`, :func:`vmplatform.resolution.manifest.check_manifest`),
so the fleet asks each question once per profile and multiplies by the
number of hosts, as Borg does with its equivalence classes. A fleet of
100,000 hosts has a few hundred profiles at most.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from vmplatform.model.accel import Accel
from vmplatform.model.features import Catalog, default_catalog
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.report import Evidence, FeatureResult, FeatureStatus, HostIdentity, HostReport

_STATUS = {s.value: s for s in FeatureStatus}


@dataclass(frozen=True)
class Profile:
    """Feature id -> status, as one host report gave them (sorted by feature id), and the host's
    accelerator (:func:`vmplatform.resolution.support.host_accel`: KVM-only features do not count under TCG)."""

    statuses: tuple[tuple[str, FeatureStatus], ...]
    accel: Accel = Accel.KVM

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.key().encode()).hexdigest()

    def key(self) -> str:
        return f"accel={self.accel.value}," + ",".join(f"{f}={s.value}" for f, s in self.statuses)

    def supported(self) -> frozenset[str]:
        return frozenset(f for f, s in self.statuses if s is FeatureStatus.SUPPORTED)

    def status(self, feature: str) -> FeatureStatus:
        for f, s in self.statuses:
            if f == feature:
                return s
        return FeatureStatus.UNKNOWN

    def to_json(self) -> JsonObject:
        return {"accel": self.accel.value, "features": {f: s.value for f, s in self.statuses}}

    def dumps(self) -> str:
        """The text stored with the profile: sorted keys, so one profile is always the same bytes."""
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def loads(cls, text: str) -> Profile:
        obj = json.loads(text)
        feats = obj["features"]
        return cls(tuple(sorted((str(f), _STATUS[str(s)]) for f, s in feats.items())), Accel(obj["accel"]))

    def as_report(self, hostname: str, evidence: str = "",
                  os_release: Mapping[str, str] | None = None, kernel_release: str = "") -> HostReport:
        """A host report with these statuses, to ask the one-host rules about the whole class."""
        note = evidence or f"status shared by every host of feature profile {self.digest[:12]}"
        results = tuple(FeatureResult(f, s, Evidence(check=note, outcome=s.value)) for f, s in self.statuses)
        return HostReport(HostIdentity(hostname, kernel_release, "", "",
                                       MappingProxyType(dict(os_release or {}))), results)


_ACCEL: dict[tuple[object, ...], Accel] = {}


def profile_of(report: HostReport, catalog: Catalog | None = None) -> Profile:
    from vmplatform.model.features import AppliesTo
    from vmplatform.resolution.support import host_accel

    cat = catalog if catalog is not None else default_catalog()
    # host_accel reads only the KVM features' status and errno: ask it once per distinct answer.
    key = (id(cat), *((r.feature, r.status, r.evidence.errno) for r in report.results
                      if r.feature in cat and cat.get(r.feature).applies_to is AppliesTo.KVM))
    accel = _ACCEL.get(key)
    if accel is None:
        accel = _ACCEL[key] = host_accel(report, cat)
    return Profile(tuple(sorted((r.feature, r.status) for r in report.results)), accel)
