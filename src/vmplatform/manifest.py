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

import datetime
import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import VmplatformError
from .machines import MachineCatalog, normalize_value
from .platforms import Platform, PlatformSet
from .report import HostReport
from .resolve import Layer, Resolution
from .verdict import Verdict, judge

SCHEMA = "vmplatform/manifest/1"


class Scope(enum.Enum):
    """How far the VM may migrate; picked by the management layer at creation."""

    HOST = "host"            # everything this host offers; the VM is not migratable
    HOSTS = "hosts"          # the merge of a named set of hosts' reports
    PLATFORM = "platform"    # a named platform
    ANYWHERE = "anywhere"    # the merge over a whole fleet inventory


class ManifestError(VmplatformError):
    """A manifest file is not a valid vmplatform manifest."""


@dataclass(frozen=True)
class Pin:
    device: str
    device_type: str
    driver: str
    property: str
    value: str
    feature: str
    source: str              # resolution layer that decided the value


@dataclass(frozen=True)
class Manifest:
    machine: str
    qemu_version: str
    accel: str
    scope: Scope
    platform: str | None
    platform_features: tuple[str, ...]
    scope_hosts: tuple[str, ...]
    migratable: bool
    requires: Mapping[str, str]          # feature -> what needs it
    relevant: tuple[str, ...]            # features governing any of the VM's properties
    pins: tuple[Pin, ...]
    analysed_on: str

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "machine": self.machine,
            "qemu-version": self.qemu_version,
            "accel": self.accel,
            "scope": {"kind": self.scope.value, **({"hosts": list(self.scope_hosts)} if self.scope_hosts else {})},
            "platform": self.platform,
            "platform-features": list(self.platform_features),
            "migratable": self.migratable,
            "requires": [{"feature": f, "required-by": by} for f, by in sorted(self.requires.items())],
            "relevant-features": list(self.relevant),
            "pinned-properties": [
                {"device": p.device, "device-type": p.device_type, "driver": p.driver, "property": p.property,
                 "value": p.value, "feature": p.feature, "source": p.source} for p in self.pins],
            "analysed-on": self.analysed_on,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json_obj(), indent=2, sort_keys=True) + "\n"


def from_resolution(res: Resolution, platform: Platform, scope: Scope, report: HostReport,
                    scope_hosts: Sequence[str] = ()) -> Manifest:
    requires: dict[str, str] = {}
    for p in res.properties:
        if p.needs_feature and p.feature not in requires:
            who = "machine" if p.device == "machine" else f"{p.device_type} {p.device}"
            requires[p.feature] = f"{who} {p.property}={p.value}"
    pins = tuple(Pin(p.device, p.device_type, p.global_driver, p.property, p.value, p.feature, p.layer.value)
                 for p in res.properties)
    return Manifest(
        machine=res.machine.name, qemu_version=res.qemu_version, accel=res.config.accel, scope=scope,
        platform=None if scope is Scope.HOST else platform.name,
        platform_features=tuple(sorted(platform.features)), scope_hosts=tuple(scope_hosts),
        migratable=scope is not Scope.HOST, requires=requires,
        relevant=tuple(sorted({p.feature for p in res.properties})), pins=pins,
        analysed_on=f"{report.host.hostname} (Linux {report.host.kernel_release})")


def host_platform(report: HostReport, platforms: PlatformSet) -> Platform:
    """The 'host' scope: everything this host offers, as a synthetic platform."""
    date = _report_date(report)
    feats = frozenset(f for f in report.supported() if f in platforms.catalog)
    return Platform(name=f"host-{report.host.hostname}", description=f"everything host {report.host.hostname} "
                    "offers (not migratable)", vendor="host", released=date, kernel=report.host.kernel_release,
                    features=feats, synthetic=True, origin=f"host report of {report.host.hostname}")


def _report_date(report: HostReport) -> datetime.date:
    try:
        return datetime.date.fromisoformat(report.probed_at[:10])
    except ValueError:
        return datetime.date(1970, 1, 1)


def loads(text: str, source: str = "<manifest>") -> Manifest:
    hint = "produce one with 'vmplatform analyze -- QEMU-ARGV > manifest.json'"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise ManifestError(f"{source}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}",
                            hint) from err
    if not isinstance(obj, dict) or obj.get("schema") != SCHEMA:
        raise ManifestError(f"{source}: not a vmplatform manifest (expected schema {SCHEMA!r})", hint)
    try:
        scope = Scope(obj["scope"]["kind"])
        return Manifest(
            machine=str(obj["machine"]), qemu_version=str(obj["qemu-version"]), accel=str(obj["accel"]),
            scope=scope, platform=obj.get("platform"),
            platform_features=tuple(obj.get("platform-features", [])),
            scope_hosts=tuple(obj["scope"].get("hosts", [])), migratable=bool(obj["migratable"]),
            requires={str(r["feature"]): str(r["required-by"]) for r in obj["requires"]},
            relevant=tuple(obj.get("relevant-features", [])),
            pins=tuple(Pin(str(p["device"]), str(p["device-type"]), str(p["driver"]), str(p["property"]),
                           str(p["value"]), str(p["feature"]), str(p["source"]))
                       for p in obj["pinned-properties"]),
            analysed_on=str(obj.get("analysed-on", "")))
    except (KeyError, TypeError, ValueError) as err:
        raise ManifestError(f"{source}: malformed manifest: {err!r}", hint) from None


def machine_type_changes(manifest: Manifest, mc: MachineCatalog) -> list[str]:
    """Pins that the target QEMU's machine type no longer gives by itself.

    A downstream QEMU update may change an existing machine type's compat
    props (RHEL-80313 turned USO off in pc-q35-rhel9.6.0). A destination
    started without the manifest's pins would then offer a different ABI.
    """
    problems = []
    try:
        machine = mc.get(manifest.machine)
    except VmplatformError:
        return [f"QEMU {mc.qemu_version} has no machine type {manifest.machine}"]
    for pin in manifest.pins:
        if pin.source in (Layer.USER_GLOBAL.value, Layer.USER_DEVICE.value, Layer.BACKEND.value):
            continue
        qom = f"{manifest.machine}-machine" if pin.device == "machine" else pin.device_type
        value = mc.device_default(qom, pin.property)
        if value is None:
            continue
        lineage = mc.lineage(qom)
        for cp in machine.compat_props:
            if cp.property == pin.property and cp.qom_type in lineage:
                value = normalize_value(cp.value)
        if pin.source == Layer.MACHINE_TYPE.value and value != pin.value:
            problems.append(f"machine type {manifest.machine} of QEMU {mc.qemu_version} now gives "
                            f"{pin.driver}.{pin.property}={value}, the VM was created with {pin.value}: start "
                            "the destination with the manifest's pinned properties")
        elif pin.source != Layer.MACHINE_TYPE.value and value == "off" and pin.value == "on" \
                and any(cp.property == pin.property and cp.qom_type in lineage for cp in machine.compat_props):
            problems.append(f"machine type {manifest.machine} of QEMU {mc.qemu_version} now turns "
                            f"{pin.driver}.{pin.property} off, the VM was created with on: start the "
                            "destination with the manifest's pinned properties")
    return problems


def check_manifest(manifest: Manifest, report: HostReport, platforms: PlatformSet,
                   mc: MachineCatalog | None = None) -> Verdict:
    """Can the host of ``report`` (with QEMU ``mc``) run or receive this VM?"""
    problems = machine_type_changes(manifest, mc) if mc is not None else []
    subject = "this VM" if manifest.migratable else "this VM (scope host: not migratable)"
    return judge(dict(manifest.requires), manifest.relevant, report, platforms, problems, subject)
