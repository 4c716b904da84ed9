"""Dependency manifests: what one VM's guest ABI relies on, made once, checked often.

Odaki's half of the design: when a VM is created the management layer asks
vmplatform to analyse it on the creating host (:func:`analyze`), stores the
manifest with the VM (e.g. libvirt ``<metadata>``), and checks every later
host against it (:func:`check_manifest`) before a start or a migration.

The JSON form is versioned (``schema``), has sorted keys and no timestamps:
analysing the same VM on the same host twice gives byte-identical output.
The schema is documented in docs/manifest.md.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from vmplatform.errors import FileFormatError, VmplatformError
from vmplatform.model import _jsontext
from vmplatform.model.accel import Accel
from vmplatform.model.fields import Document, Fields, kind_of
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.records import record
from vmplatform.resolution.layers import Layer

# Reading a manifest and checking it against a host (the libvirt hook on every guarded start) needs
# none of the resolution machinery; making one (analyze) does, and imports it there.
if TYPE_CHECKING:
    import datetime

    from vmplatform.model.machines import MachineCatalog
    from vmplatform.model.platforms import Platform, PlatformSet
    from vmplatform.model.report import HostReport
    from vmplatform.resolution.resolve import Resolution
    from vmplatform.resolution.verdict import Verdict

SCHEMA = "vmplatform/manifest/1"


class Scope(enum.Enum):
    """How far the VM may migrate; picked by the management layer at creation."""

    HOST = "host"            # everything this host offers; the VM is not migratable
    HOSTS = "hosts"          # the merge of a named set of hosts' reports
    PLATFORM = "platform"    # a named platform
    ANYWHERE = "anywhere"    # the merge over a whole fleet inventory


class ManifestError(FileFormatError):
    """A manifest file is not a valid vmplatform manifest."""


@record
class Pin:
    device: str
    device_type: str
    driver: str
    prop: str
    value: str
    feature: str
    source: Layer            # resolution layer that decided the value


@record
class Manifest:
    machine: str
    qemu_version: str
    accel: Accel
    scope: Scope
    platform: str | None
    platform_features: tuple[str, ...]
    scope_hosts: tuple[str, ...]
    migratable: bool
    requires: Mapping[str, str]          # feature -> what needs it
    relevant: tuple[str, ...]            # features governing any of the VM's properties
    pins: tuple[Pin, ...]
    analysed_on: str

    def to_json(self) -> JsonObject:
        """The manifest as a JSON-ready object (schema vmplatform/manifest/1)."""
        return {
            "schema": SCHEMA,
            "machine": self.machine,
            "qemu-version": self.qemu_version,
            "accel": self.accel.value,
            "scope": {"kind": self.scope.value, **({"hosts": list(self.scope_hosts)} if self.scope_hosts else {})},
            "platform": self.platform,
            "platform-features": list(self.platform_features),
            "migratable": self.migratable,
            "requires": [{"feature": f, "required-by": by} for f, by in sorted(self.requires.items())],
            "relevant-features": list(self.relevant),
            "pinned-properties": [
                {"device": p.device, "device-type": p.device_type, "driver": p.driver, "property": p.prop,
                 "value": p.value, "feature": p.feature, "source": p.source.value} for p in self.pins],
            "analysed-on": self.analysed_on,
        }


def dumps(manifest: Manifest) -> str:
    """The manifest as JSON text: sorted keys, no timestamps, so the same VM gives the same bytes."""
    return json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n"


def from_resolution(res: Resolution, platform: Platform, scope: Scope, report: HostReport,
                    scope_hosts: Sequence[str] = ()) -> Manifest:
    requires: dict[str, str] = {}
    for p in res.properties:
        if p.needs_feature and p.feature not in requires:
            who = "machine" if p.device == "machine" else f"{p.device_type} {p.device}"
            requires[p.feature] = f"{who} {p.prop}={p.value}"
    for feature, by in res.backend_needs().items():
        requires.setdefault(feature, by)
    pins = tuple(Pin(p.device, p.device_type, p.global_driver, p.prop, p.value, p.feature, p.layer)
                 for p in res.properties)
    return Manifest(
        machine=res.machine.name, qemu_version=res.qemu_version, accel=res.config.accel, scope=scope,
        platform=None if scope is Scope.HOST else platform.name,
        platform_features=tuple(sorted(platform.features)), scope_hosts=tuple(scope_hosts),
        migratable=scope is not Scope.HOST, requires=requires,
        relevant=tuple(sorted({p.feature for p in res.properties} | set(res.backend_needs()))), pins=pins,
        analysed_on=f"{report.host.hostname} (Linux {report.host.kernel_release})")


def require_usable(res: Resolution, report: HostReport, platforms: PlatformSet) -> None:
    """Refuse a VM with a device this host cannot run at all.

    A NIC with ``vhost=on`` needs /dev/vhost-net (QEMU fails to start
    without it; libvirt refuses ``<driver name='vhost'/>``), a vhost-vsock
    device needs /dev/vhost-vsock. Resolution does not count the features
    behind such a device against the host (:func:`vmplatform.resolution.resolve.check_host`),
    so without this check a manifest could be written for a VM its own host
    cannot start, and that no host would then satisfy.
    """
    from vmplatform.errors import HostLacksFeatures, MissingFeature
    from vmplatform.model.features import Category
    from vmplatform.model.report import FeatureStatus
    from vmplatform.resolution.support import unusable_here

    catalog = platforms.catalog
    missing: dict[str, MissingFeature] = {}
    for p in res.properties:
        if unusable_here(p.feature, report, catalog) is None:
            continue
        req = next(r for r in catalog.get(p.feature).requires if catalog.get(r).category is Category.OPTIONAL
                   and report.status(r) is FeatureStatus.UNSUPPORTED)
        who = "the machine" if p.device == "machine" else f"{p.device_type} {p.device}"
        missing.setdefault(req, MissingFeature(
            feature=req, needed_by=f"{who}: QEMU opens it for this device's backend",
            status=report.status(req).value, reason=report.reason(req),
            provided_by="a host with it enabled: kernel config, module or privilege"))
    if missing:
        raise HostLacksFeatures(report.name, list(missing.values()),
                                "run the VM without that backend here (e.g. vhost=off), or analyse it on a host "
                                "that has the feature")


def host_platform(report: HostReport, platforms: PlatformSet) -> Platform:
    """The 'host' scope: everything this host offers, as a synthetic platform."""
    from vmplatform.model.platforms import Platform

    date = _report_date(report)
    feats = frozenset(f for f in report.supported() if f in platforms.catalog)
    return Platform(name=f"host-{report.host.hostname}", description=f"everything host {report.host.hostname} "
                    "offers (not migratable)", vendor="host", released=date, kernel=report.host.kernel_release,
                    features=feats, synthetic=True, origin=f"host report of {report.host.hostname}")


def _report_date(report: HostReport) -> datetime.date:
    import datetime

    try:
        return datetime.date.fromisoformat(report.probed_at[:10])
    except ValueError:
        return datetime.date(1970, 1, 1)


_HINT = "produce one with 'vmplatform analyze -- QEMU-ARGV > manifest.json' (schema: docs/manifest.md)"


def loads(text: str, source: str = "<manifest>") -> Manifest:
    """Parse and validate a manifest; errors name the source and the field."""
    try:
        obj = _jsontext.loads(text)
    except json.JSONDecodeError as err:
        raise ManifestError(source, "", f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}",
                            hint=_HINT) from err
    if not isinstance(obj, dict):
        raise ManifestError(source, "", "not a vmplatform manifest (expected a JSON object)", hint=_HINT)
    if obj.get("schema") != SCHEMA:
        found = f"schema {obj['schema']!r}" if "schema" in obj else "no 'schema'"
        raise ManifestError(source, "", f"not a vmplatform manifest ({found}, expected {SCHEMA!r})", hint=_HINT)
    doc = Document(source, ManifestError, hint=_HINT)
    f = Fields(obj, doc)
    scope_obj = f.table("scope", required=True)
    scope = scope_obj.choice("kind", Scope)
    platform = f.get("platform")
    if platform is not None and not isinstance(platform, str):
        raise f.error("platform", f"must be a string or null, not {kind_of(platform)}")
    requires = {}
    for r in f.tables("requires", required=True):
        requires[r.text("feature")] = r.text("required-by")
    pins = []
    for po in f.tables("pinned-properties", required=True):
        pin_obj = Pin(po.text("device"), po.text("device-type"), po.text("driver"), po.text("property"),
                      po.text("value"), po.text("feature"), po.choice("source", Layer))
        _check_pin(pin_obj, po)
        pins.append(pin_obj)
    migratable = f.flag("migratable")
    return Manifest(
        machine=f.text("machine"), qemu_version=f.text("qemu-version"), accel=f.choice("accel", Accel),
        scope=scope, platform=platform, platform_features=f.strings("platform-features"),
        scope_hosts=scope_obj.strings("hosts"), migratable=migratable, requires=requires,
        relevant=f.strings("relevant-features"), pins=tuple(pins),
        analysed_on=f.text("analysed-on", default=""))


# A pinned value is one token of QEMU's option syntax: no separator (',' '='), quote or space
# can ride along into a command line or a domain XML built from a manifest.
_PIN_VALUE = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")  # libvirt's machine-name charset, used for device ids too


def _check_pin(pin: Pin, f: Fields) -> None:
    """A manifest may only speak of catalog properties, with values QEMU reads as one token."""
    from vmplatform.model.features import default_catalog

    catalog = default_catalog()
    if pin.feature not in catalog:
        raise f.error("feature", f"'{pin.feature}' is not a feature of the catalog "
                                 "('vmplatform features' lists them)")
    # The catalog names the QOM type that defines a property (virtio-device.queue_reset) and
    # the manifest the concrete one (virtio-net-device): the property name is what must match.
    if pin.prop not in {gp.prop for gp in catalog.get(pin.feature).governs}:
        raise f.error("property", f"{pin.driver}.{pin.prop} is not a property {pin.feature} governs")
    if not _PIN_VALUE.fullmatch(pin.value):
        raise f.error("value", f"{pin.value!r} is not a property value (letters, digits, '_.+-')")
    for key, text in (("device", pin.device), ("device-type", pin.device_type)):
        if not _NAME.fullmatch(text):
            raise f.error(key, f"{text!r} is not a device name (letters, digits, '_.-')")


def machine_type_changes(manifest: Manifest, mc: MachineCatalog) -> list[str]:
    """Pins that the target QEMU's machine type no longer gives by itself.

    A downstream QEMU update may change an existing machine type's compat
    props (RHEL-80313 turned USO off in pc-q35-rhel9.6.0). A destination
    started without the manifest's pins would then offer a different ABI.
    """
    from vmplatform.model.machines import normalize_value

    problems = []
    try:
        machine = mc.get(manifest.machine)
    except VmplatformError:
        return [f"QEMU {mc.qemu_version} has no machine type {manifest.machine}"]
    for pin in manifest.pins:
        if pin.source in (Layer.USER_GLOBAL, Layer.USER_DEVICE, Layer.BACKEND):
            continue
        qom = f"{manifest.machine}-machine" if pin.device == "machine" else pin.device_type
        value = mc.device_default(qom, pin.prop)
        if value is None:
            continue
        lineage = mc.lineage(qom)
        for cp in machine.compat_props:
            if cp.prop == pin.prop and cp.qom_type in lineage:
                value = normalize_value(cp.value)
        if pin.source is Layer.MACHINE_TYPE and value != pin.value:
            problems.append(f"machine type {manifest.machine} of QEMU {mc.qemu_version} now gives "
                            f"{pin.driver}.{pin.prop}={value}, the VM was created with {pin.value}: start "
                            "the destination with the manifest's pinned properties")
        elif pin.source is not Layer.MACHINE_TYPE and value == "off" and pin.value == "on" \
                and any(cp.prop == pin.prop and cp.qom_type in lineage for cp in machine.compat_props):
            problems.append(f"machine type {manifest.machine} of QEMU {mc.qemu_version} now turns "
                            f"{pin.driver}.{pin.prop} off, the VM was created with on: start the "
                            "destination with the manifest's pinned properties")
    return problems


def check_manifest(manifest: Manifest, report: HostReport, platforms: PlatformSet,
                   mc: MachineCatalog | None = None, extra_problems: Sequence[str] = ()) -> Verdict:
    """Can the host of ``report`` (with QEMU ``mc``) run or receive this VM?

    ``extra_problems`` are reasons found elsewhere (e.g. a domain XML that lost
    its pins); any makes the verdict ``incompatible``.
    """
    from vmplatform.resolution.verdict import judge

    problems = (machine_type_changes(manifest, mc) if mc is not None else []) + list(extra_problems)
    subject = "this VM" if manifest.migratable else "this VM (scope host: not migratable)"
    return judge(dict(manifest.requires), manifest.relevant, report, platforms, problems, subject)
