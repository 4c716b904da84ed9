"""The host-feature catalog: what QEMU consults on the host, as data.

The catalog lives in ``data/features.toml`` (format: docs/data-formats.md).
Loading validates every entry; an error names the file, the key path and
the line.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vmplatform.errors import DataFileError, UnknownNameError
from vmplatform.model import _toml, probe_spec
from vmplatform.model._toml import DATA_DIR
from vmplatform.model.accel import Accel
from vmplatform.model.fields import Fields
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.probe_spec import ProbeSpec
from vmplatform.records import field, fields, record

FEATURE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class Category(enum.Enum):
    """Whether a kernel release alone decides the feature."""

    KERNEL = "kernel"        # every build of the release that has the subsystem provides it
    OPTIONAL = "optional"    # depends on config, privilege, hardware: promised only explicitly


class AppliesTo(enum.Enum):
    """Which VM configurations make QEMU consult the feature."""

    TAP = "tap"              # netdev tap with a vnet header
    TAP_VHOST = "tap-vhost"  # netdev tap with vhost=on
    KVM = "kvm"              # accel=kvm
    ANY = "any"              # every VM


@record
class Gap:
    """Releases ``[since, until)`` in which an introduced feature was absent again."""

    since: str
    until: str
    source: str


@record
class GovernedProperty:
    """A QEMU property whose effective value depends on a host feature."""

    driver: str
    prop: str
    present: str
    absent: str
    qemu: str
    source: str
    virtio_bit: int | None = None
    host_default: str | None = None   # a value meaning "take it from the host" (virtio-iommu granule=host)
    needs_feature: bool = True        # False: every value runs on every host (QEMU at most warns)

    @property
    def key(self) -> str:
        return f"{self.driver}.{self.prop}"

    def to_json(self) -> JsonObject:
        return {"driver": self.driver, "property": self.prop, "present": self.present, "absent": self.absent,
                **({"virtio-bit": self.virtio_bit} if self.virtio_bit is not None else {}), "qemu": self.qemu}


@record
class HostFeature:
    """One host capability QEMU consults when it decides a guest-visible default."""

    id: str
    summary: str
    category: Category
    applies_to: AppliesTo
    linux: str
    linux_source: str
    qemu: str
    qemu_source: str
    probe: ProbeSpec
    governs: tuple[GovernedProperty, ...] = ()
    requires: tuple[str, ...] = ()
    notes: str = ""
    upstream_default: str = ""        # Kconfig fact: an upstream release built with its defaults has it
    gaps: tuple[Gap, ...] = ()

    def to_json(self) -> JsonObject:
        """The feature as ``features --json`` lists it."""
        return {
            "id": self.id, "summary": self.summary, "category": self.category.value,
            "applies-to": self.applies_to.value, "linux": self.linux, "linux-source": self.linux_source,
            "qemu": self.qemu, "qemu-source": self.qemu_source, "requires": [*self.requires],
            "probe": self.probe.to_json(), "governs": [g.to_json() for g in self.governs],
        }

    def matters_under(self, accel: Accel) -> bool:
        """False for a KVM-only feature judged for a TCG VM."""
        return accel is Accel.KVM or self.applies_to is not AppliesTo.KVM


@record
class Catalog:
    """All host features, in file order."""

    features: Mapping[str, HostFeature] = field(default_factory=dict)
    path: str = ""

    def __iter__(self) -> Iterator[HostFeature]:
        return iter(self.features.values())

    def __len__(self) -> int:
        return len(self.features)

    def __contains__(self, feature_id: object) -> bool:
        return feature_id in self.features

    def get(self, feature_id: str) -> HostFeature:
        try:
            return self.features[feature_id]
        except KeyError:
            raise UnknownNameError("feature", feature_id, list(self.features),
                                   hint="list the catalog with 'vmplatform features'") from None

    def ids(self) -> list[str]:
        return list(self.features)

    def decides_properties(self, feature_id: str) -> bool:
        """Whether a feature decides a QEMU property: it governs one, or a feature that does requires it.

        Only such features can be guaranteed by a platform: a platform pins properties, and a
        guarantee that pins nothing would only make platforms unsupported for no guest-visible reason.
        """
        todo, seen = [feature_id], set()
        while todo:
            fid = todo.pop()
            if fid in seen:
                continue
            seen.add(fid)
            if self.get(fid).governs:
                return True
            todo += [f.id for f in self if fid in f.requires]
        return False

    def governing(self, driver: str, prop: str) -> HostFeature | None:
        """The feature that governs ``driver.prop``, if any."""
        for feat in self:
            for gp in feat.governs:
                if gp.driver == driver and gp.prop == prop:
                    return feat
        return None


def _parse_feature(t: Fields) -> HostFeature:
    t.check_keys({"id", "summary", "category", "requires", "linux", "linux-source", "qemu",
                  "qemu-source", "applies-to", "notes", "probe", "governs", "upstream-default", "gap"})
    fid = t.text("id")
    if not FEATURE_ID.match(fid):
        raise t.error("id", f"feature id '{fid}' is not kebab-case ([a-z0-9]+ joined by '-')", fid)
    category = t.choice("category", Category)
    applies = t.choice("applies-to", AppliesTo)
    probe = probe_spec.parse(t.table("probe", required=True))
    governs = []
    for g in t.tables("governs"):
        g.check_keys({"driver", "property", "present", "absent", "virtio-bit", "qemu", "source", "notes",
                      "host-default", "needs-feature"})
        needs = g.flag("needs-feature", True)
        bit = g.optional(g.integer, "virtio-bit")
        if bit is not None and not 0 <= bit < 128:
            raise g.error("virtio-bit", f"virtio-bit {bit} is outside 0..127")
        governs.append(GovernedProperty(
            driver=g.text("driver"), prop=g.text("property"),
            present=_value(g, "present"), absent=_value(g, "absent"),
            qemu=g.text("qemu", ""), source=g.text("source", ""), virtio_bit=bit,
            host_default=g.optional(g.text, "host-default"), needs_feature=needs))
    gaps = []
    for g in t.tables("gap"):
        g.check_keys({"since", "until", "source"})
        gaps.append(Gap(g.text("since"), g.text("until"), g.text("source")))
    upstream_default = t.text("upstream-default", "")
    linux = t.text("linux", "")
    if upstream_default and not linux:
        raise t.error("upstream-default", "upstream-default needs the 'linux' release that introduced the feature")
    return HostFeature(
        id=fid, summary=t.text("summary"), category=category, applies_to=applies,
        linux=linux, linux_source=t.text("linux-source", ""),
        qemu=t.text("qemu", ""), qemu_source=t.text("qemu-source", ""),
        probe=probe, governs=tuple(governs), requires=t.strings("requires"),
        notes=t.text("notes", ""), upstream_default=upstream_default, gaps=tuple(gaps))


def _value(t: Fields, key: str) -> str:
    """Property values are strings; TOML booleans are accepted as on/off."""
    raw = t.get(key)
    if isinstance(raw, bool):
        return "on" if raw else "off"
    return t.text(key)


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate a feature catalog (the packaged one by default)."""
    if path is None:
        path = DATA_DIR / "features.toml"
    root = _toml.load(path)
    root.check_keys({"feature", "meta"})
    features: dict[str, HostFeature] = {}
    owners: dict[str, str] = {}
    for t in root.tables("feature"):
        feat = _parse_feature(t)
        if feat.id in features:
            raise t.error("id", f"duplicate feature id '{feat.id}'", feat.id)
        for gp in feat.governs:
            if gp.key in owners:
                raise t.error("governs", f"{gp.key} is already governed by '{owners[gp.key]}'", gp.prop)
            owners[gp.key] = feat.id
        features[feat.id] = feat
    for feat in features.values():
        for req in feat.requires:
            if req not in features:
                raise DataFileError(str(path), f"feature '{feat.id}'.requires",
                                    f"requires unknown feature '{req}'")
    return Catalog(MappingProxyType(features), str(path))


@cache
def default_catalog() -> Catalog:
    """The catalog shipped in the package (loaded once per process): its build-time compilation
    (:func:`compile_catalog`) while that matches the source, else the source itself."""
    return _compiled_catalog() or load_catalog()


# -- the packaged catalog, validated and compiled at build time ---------------------------------
# ``python -m vmplatform.model._toml`` (scripts/setup-host, scripts/test) writes it; a start-up then reads
# one JSON file instead of validating every entry again. tests/model/test_compiled_data.py holds it
# to the source.
COMPILED_CATALOG = _toml.COMPILED_DIR / "catalog.json"
_SOURCE = "features.toml"


def _feature_json(f: HostFeature) -> dict[str, object]:
    return {"id": f.id, "summary": f.summary, "category": f.category.value, "applies-to": f.applies_to.value,
            "linux": f.linux, "linux-source": f.linux_source, "qemu": f.qemu, "qemu-source": f.qemu_source,
            "probe": {"kind": type(f.probe).__name__,
                      **{name: getattr(f.probe, name) for name in fields(f.probe)}},
            "governs": [{"driver": g.driver, "property": g.prop, "present": g.present, "absent": g.absent,
                         "qemu": g.qemu, "source": g.source, "virtio-bit": g.virtio_bit,
                         "host-default": g.host_default, "needs-feature": g.needs_feature} for g in f.governs],
            "requires": list(f.requires), "notes": f.notes, "upstream-default": f.upstream_default,
            "gaps": [{"since": g.since, "until": g.until, "source": g.source} for g in f.gaps]}


def _feature_from(o: dict[str, Any]) -> HostFeature:
    p = o["probe"]
    return HostFeature(
        id=o["id"], summary=o["summary"], category=Category(o["category"]), applies_to=AppliesTo(o["applies-to"]),
        linux=o["linux"], linux_source=o["linux-source"], qemu=o["qemu"], qemu_source=o["qemu-source"],
        probe=_probe_from(p),
        governs=tuple(GovernedProperty(g["driver"], g["property"], g["present"], g["absent"], g["qemu"],
                                       g["source"], g["virtio-bit"], g["host-default"], g["needs-feature"])
                      for g in o["governs"]),
        requires=tuple(o["requires"]), notes=o["notes"], upstream_default=o["upstream-default"],
        gaps=tuple(Gap(g["since"], g["until"], g["source"]) for g in o["gaps"]))


def _probe_from(o: dict[str, Any]) -> ProbeSpec:
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in o.items() if k != "kind"}
    return _PROBE_KINDS[o["kind"]](**values)


_PROBE_KINDS: dict[str, type[ProbeSpec]] = {cls.__name__: cls for cls in (
    probe_spec.TunFeatures, probe_spec.TunOffload, probe_spec.TunSteeringEbpf, probe_spec.BpfProgLoad,
    probe_spec.VhostFeatures, probe_spec.KvmCapability, probe_spec.Sysconf, probe_spec.FileValue)}


def compile_catalog() -> Path:

    """Validate the packaged catalog from its source and write its compiled form (build time)."""
    path = DATA_DIR / _SOURCE
    catalog = load_catalog(path)
    return _toml.write_compiled(COMPILED_CATALOG, _toml.source_stamps([path]),
                                {"features": [_feature_json(f) for f in catalog]})


def _compiled_catalog() -> Catalog | None:
    """The compiled packaged catalog, or None when absent or not made from the current source."""
    path = DATA_DIR / _SOURCE
    data = _toml.read_compiled(COMPILED_CATALOG, [path])
    if data is None:
        return None
    try:
        features = {f.id: f for f in map(_feature_from, data["features"])}
    except (KeyError, TypeError, ValueError):
        return None  # written by another version of this code: read the source
    return Catalog(MappingProxyType(features), str(path))
