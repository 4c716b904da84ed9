"""Host to host: what two hosts have in common, and which way a VM may move.

With S(X) the catalog features host X supports, migrating from A to B is
safe for *any* VM started on A (whatever A offered it, including everything
with ``--scope host`` or no platform at all) exactly when S(A) ⊆ S(B). Given
the QEMU's machine catalog, S only counts features that decide a property
this QEMU has (QEMU 10.0 has no UDP-tunnel properties, so a host's
tap-udp-tunnel-gso cannot make a VM unmovable). When
it is not, only VMs whose platform both hosts support can move from A to B;
the latest such platform is picked host-neutrally
(:func:`vmplatform.resolution.baseline.choose_common`).
"""

from __future__ import annotations

from vmplatform.model.features import AppliesTo, Catalog
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.machines import MachineCatalog
from vmplatform.model.platforms import Platform, PlatformSet
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.records import record
from vmplatform.resolution.baseline import choose_common, common_platforms
from vmplatform.resolution.support import SupportReport, evaluate


@record
class FeatureDifference:
    """A feature one host supports and the other does not."""

    feature: str
    applies_to: AppliesTo    # which VMs it matters to
    other_status: FeatureStatus
    other_reason: str

    def to_json(self) -> JsonObject:
        return {"id": self.feature, "applies-to": self.applies_to.value, "status-on-other": self.other_status.value,
                "reason-on-other": self.other_reason}


@record
class Direction:
    source: str
    target: str
    any_vm: bool                             # S(source) ⊆ S(target)
    target_lacks: tuple[str, ...]            # S(source) - S(target)
    via: Platform | None                     # latest common platform (when not any_vm)

    @property
    def message(self) -> str:
        if self.any_vm:
            return (f"{self.source} -> {self.target}: safe for any VM ({self.target} has every feature "
                    f"{self.source} offers)")
        lacks = ", ".join(self.target_lacks)
        if self.via is None:
            return (f"{self.source} -> {self.target}: unsafe: {self.target} lacks {lacks}, and the hosts "
                    "share no platform")
        return (f"{self.source} -> {self.target}: only VMs on a platform both support (latest: "
                f"{self.via.name}); {self.target} lacks {lacks}")


@record
class Comparison:
    a: SupportReport
    b: SupportReport
    common: tuple[Platform, ...]             # newest first
    only_a: tuple[Platform, ...]             # platforms only A supports, newest first
    only_b: tuple[Platform, ...]
    features_only_a: tuple[FeatureDifference, ...]
    features_only_b: tuple[FeatureDifference, ...]
    latest_common: Platform | None
    directions: tuple[Direction, Direction]  # a -> b, b -> a

    def to_json(self) -> JsonObject:
        """The comparison as ``compare --json`` answers it."""
        def host(sr: SupportReport) -> JsonObject:
            return {"name": sr.host.name, "kernel-release": sr.host.host.kernel_release,
                    "default-platform": sr.default.name if sr.has_default else None}

        return {
            "a": host(self.a), "b": host(self.b),
            "common-platforms": [p.name for p in self.common],
            "latest-common-platform": self.latest_common.name if self.latest_common else None,
            "platforms-only-a": [p.name for p in self.only_a],
            "platforms-only-b": [p.name for p in self.only_b],
            "features-only-a": [d.to_json() for d in self.features_only_a],
            "features-only-b": [d.to_json() for d in self.features_only_b],
            "migration": [{"from": d.source, "to": d.target, "safe-for": "any-vm" if d.any_vm else
                           ("common-platform" if d.via else "none"),
                           **({"via-platform": d.via.name} if d.via else {}),
                           "target-lacks": [*d.target_lacks], "message": d.message} for d in self.directions],
        }


def _supported(report: HostReport, catalog: Catalog) -> frozenset[str]:
    return frozenset(f for f in report.supported() if f in catalog)


def _differences(have: HostReport, other: HostReport, catalog: Catalog) -> tuple[FeatureDifference, ...]:
    extra = sorted(_supported(have, catalog) - _supported(other, catalog))
    return tuple(FeatureDifference(f, catalog.get(f).applies_to, other.status(f), other.reason(f))
                 for f in extra)


def consulted_features(catalog: Catalog, mc: MachineCatalog) -> frozenset[str]:
    """Features that decide at least one property of this QEMU."""
    return frozenset(f.id for f in catalog if any(mc.consults(gp.driver, gp.prop) for gp in f.governs))


def compare(a: HostReport, b: HostReport, platforms: PlatformSet, mc: MachineCatalog | None = None) -> Comparison:
    catalog = platforms.catalog
    sa, sb = evaluate(a, platforms), evaluate(b, platforms)
    common = common_platforms([sa, sb])
    latest = choose_common(common)
    supported_a = {ps.name for ps in sa if ps.supported}
    supported_b = {ps.name for ps in sb if ps.supported}
    only_a = tuple(ps.platform for ps in sa if ps.name in supported_a - supported_b)
    only_b = tuple(ps.platform for ps in sb if ps.name in supported_b - supported_a)
    fa, fb = _supported(a, catalog), _supported(b, catalog)
    if mc is not None:
        used = consulted_features(catalog, mc)
        fa, fb = fa & used, fb & used
    a_to_b = Direction(a.name, b.name, fa <= fb, tuple(sorted(fa - fb)), None if fa <= fb else latest)
    b_to_a = Direction(b.name, a.name, fb <= fa, tuple(sorted(fb - fa)), None if fb <= fa else latest)
    return Comparison(sa, sb, tuple(reversed(common)), only_a, only_b, _differences(a, b, catalog),
                      _differences(b, a, catalog), latest, (a_to_b, b_to_a))
