"""Resolution: machine type + platform + user settings -> pinned properties.

For every device of the VM and every catalog-governed property it has, the
effective value is computed through these layers, low to high:

1. ``device-default``  the property's default in this QEMU;
2. ``machine-type``    the machine type's compat props, in order (last wins);
3. ``backend``         a netdev without a vnet header (user, socket, ...)
                       carries no TAP offload: those properties are off;
4. ``platform``        a host-dependent default is pinned: to the feature's
                       *present* value if the platform guarantees the feature,
                       else to its *absent* value. The platform never raises a
                       value a lower layer already set to *absent*: a machine
                       type that turns USO off keeps it off;
5. ``user-global``     ``-global DRIVER.PROP=VALUE``;
6. ``user-device``     a property on ``-device``.

The result never depends on the host. The host only decides whether the
result can run: :func:`check_host` lists every feature the result needs that
the host lacks, and :class:`HostLacksFeatures` names feature, property and the
release that would provide it.
"""

from __future__ import annotations

from collections.abc import Mapping

from vmplatform.errors import HostLacksFeatures, MissingFeature, UsageError
from vmplatform.model.accel import Accel
from vmplatform.model.features import AppliesTo, Category, GovernedProperty, HostFeature
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.machines import MachineCatalog, MachineType, normalize_value
from vmplatform.model.platforms import Platform, PlatformSet
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.model.vm import Backend, Device, VmConfig
from vmplatform.records import record
from vmplatform.resolution.layers import Layer
from vmplatform.resolution.support import unusable_here

TUN_MULTIQUEUE = "tun-multiqueue"   # data/features.toml


@record
class Step:
    layer: Layer
    value: str
    why: str


@record
class ResolvedProperty:
    device: str                  # device id, or "machine"
    device_type: str             # type the property is set on (-device TYPE / machine type)
    global_driver: str           # driver name for -global (the virtio backend type)
    prop: str
    value: str
    layer: Layer
    feature: str
    needs_feature: bool          # value relies on the host having ``feature``
    history: tuple[Step, ...]

    @property
    def key(self) -> str:
        return f"{self.device}.{self.prop}"


@record
class Resolution:
    machine: MachineType
    platform: Platform | None
    config: VmConfig
    properties: tuple[ResolvedProperty, ...]
    qemu_version: str

    def needed_features(self) -> list[str]:
        return sorted({p.feature for p in self.properties if p.needs_feature})

    def backend_needs(self) -> dict[str, str]:
        """Features a device's backend needs whatever its properties: feature -> what needs it.

        A tap netdev with more than one queue needs IFF_MULTI_QUEUE (``tun-multiqueue``):
        QEMU fails to start without it rather than change the guest ABI, so it governs no
        property, but a VM using it can run only where the kernel has it.
        """
        needs: dict[str, str] = {}
        for d in self.config.devices:
            if d.tap_queues > 1:
                needs.setdefault(TUN_MULTIQUEUE, f"{d.type} {d.id} netdev queues={d.tap_queues}")
        return needs

    def to_json(self) -> JsonObject:
        """The resolution as a JSON-ready object (``resolve --format json``)."""
        return {
            "machine": self.machine.name,
            "qemu-version": self.qemu_version,
            "platform": self.platform.name if self.platform else None,
            "accel": self.config.accel.value,
            "properties": [
                {
                    "device": p.device, "device-type": p.device_type, "driver": p.global_driver,
                    "property": p.prop, "value": p.value, "source": p.layer.value, "feature": p.feature,
                    "needs-feature": p.needs_feature,
                    "history": [{"layer": s.layer.value, "value": s.value, "why": s.why} for s in p.history],
                }
                for p in self.properties
            ],
            "needed-features": [*self.needed_features()],
        }

    def value(self, device: str, prop: str) -> str:
        for p in self.properties:
            if p.device == device and p.prop == prop:
                return p.value
        raise KeyError(f"{device}.{prop}")


def _applies(feat: HostFeature, dev: Device | None, accel: Accel) -> bool | None:
    """True: consulted; False: not consulted; None: a NIC whose backend cannot carry it."""
    a = feat.applies_to
    if a is AppliesTo.ANY:
        return True
    if a is AppliesTo.KVM:
        return accel is Accel.KVM
    if dev is None or dev.backend is None:
        return False
    if a is AppliesTo.TAP_VHOST:  # only vhost masks these; userspace virtio offers them anyway
        return dev.backend is Backend.TAP_VHOST
    if dev.backend is Backend.NO_VNET_HDR:
        return None
    return True


def _host_dependent(value: str, gp: GovernedProperty) -> bool:
    return value != gp.absent or value == gp.host_default


def resolve(mc: MachineCatalog, platforms: PlatformSet, config: VmConfig,
            platform: Platform | None) -> Resolution:
    """Effective value of every governed property of every device (pure: no host input)."""
    catalog = platforms.catalog
    machine = mc.get(config.machine)
    out: list[ResolvedProperty] = []
    targets: list[tuple[str, str, Device | None]] = [(d.id, d.type, d) for d in config.devices]
    machine_qom = f"{machine.name}-machine"
    targets.append(("machine", machine_qom, None))
    for dev_id, qom_type, dev in targets:
        lineage = mc.lineage(qom_type)
        for feat in catalog:
            for gp in feat.governs:
                if gp.driver not in lineage:
                    continue
                if dev is not None and not mc.knows(qom_type, gp.prop):
                    continue  # this QEMU has no such property on this device: never pin it
                applies = _applies(feat, dev, config.accel)
                if applies is False:
                    continue
                out.append(_resolve_one(mc, machine, config, platform, dev_id, qom_type, dev, feat, gp,
                                        lineage, backend_can_carry=applies is True))
    return Resolution(machine, platform, config, tuple(out), mc.qemu_version)


def _resolve_one(mc: MachineCatalog, machine: MachineType, config: VmConfig, platform: Platform | None,
                 dev_id: str, qom_type: str, dev: Device | None, feat: HostFeature, gp: GovernedProperty,
                 lineage: set[str], backend_can_carry: bool) -> ResolvedProperty:
    default = mc.device_default(qom_type, gp.prop)
    if default is None or default == "":
        default = mc.device_default(mc.backend_type(qom_type), gp.prop) or gp.present
    steps = [Step(Layer.DEVICE_DEFAULT, default, f"default of QEMU {mc.qemu_version}")]
    value = default
    for cp in machine.compat_props:
        if cp.prop == gp.prop and cp.qom_type in lineage:
            value = cp.value
            steps.append(Step(Layer.MACHINE_TYPE, value, f"machine type {machine.name}: "
                                                         f"{cp.qom_type}.{cp.prop}={cp.value}"))
    if backend_can_carry and platform is not None and _host_dependent(value, gp):
        pinned = gp.present if feat.id in platform.features else gp.absent
        verb = "guarantees" if pinned == gp.present else "does not guarantee"
        steps.append(Step(Layer.PLATFORM, pinned, f"platform {platform.name} {verb} {feat.id}"))
        value = pinned
    for drv, prop, val in config.user_globals:
        if prop == gp.prop and drv in lineage:
            value = normalize_value(val)
            steps.append(Step(Layer.USER_GLOBAL, value, f"set by -global {drv}.{prop}={val}"))
    if dev is None:
        if gp.prop in config.machine_props:
            value = normalize_value(config.machine_props[gp.prop])
            steps.append(Step(Layer.USER_DEVICE, value, f"set by -machine {gp.prop}={value}"))
    elif gp.prop in dev.props:
        value = normalize_value(dev.props[gp.prop])
        steps.append(Step(Layer.USER_DEVICE, value, f"set on -device {dev.type}"))
    # Last, not first: virtio_net_get_features() (hw/net/virtio-net.c) clears these bits when
    # !peer_has_vnet_hdr whatever -global or -device set, so hash=on on a user netdev offers no
    # HASH_REPORT and relies on nothing.
    if not backend_can_carry and value != gp.absent:
        value = gp.absent
        steps.append(Step(Layer.BACKEND, value, "the netdev has no vnet header: QEMU clears this whatever is set"))
    # opt-in properties have present == absent: any other value needs it (unless every value runs anywhere)
    needs = value != gp.absent and gp.needs_feature
    # A property the user wrote on the device stays theirs (its text is left alone) even when
    # the backend overrides its value.
    user_set = dev is not None and gp.prop in dev.props
    layer = Layer.USER_DEVICE if user_set else steps[-1].layer
    return ResolvedProperty(dev_id, qom_type, mc.backend_type(qom_type) if dev is not None else "machine",
                            gp.prop, value, layer, feat.id, needs, tuple(steps))


def provided_by(feature: HostFeature, platforms: PlatformSet) -> str:
    return platforms.provided_by(feature)


def check_host(res: Resolution, report: HostReport, platforms: PlatformSet) -> list[MissingFeature]:
    """Every feature ``res`` relies on that ``report`` does not show as supported."""
    catalog = platforms.catalog
    missing: dict[str, MissingFeature] = {}
    for p in res.properties:
        if not p.needs_feature:
            continue
        feat = catalog.get(p.feature)
        if report.status(p.feature) is FeatureStatus.SUPPORTED or p.feature in missing:
            continue
        if p.layer is Layer.PLATFORM and unusable_here(p.feature, report, catalog):
            continue  # e.g. vhost ring reset without vhost: no VM here can use vhost at all
        who = "the machine" if p.device == "machine" else f"{p.device_type} {p.device}"
        missing[p.feature] = MissingFeature(
            feature=p.feature, needed_by=f"{who}: {p.prop}={p.value} ({p.history[-1].why})",
            status=report.status(p.feature).value, reason=report.reason(p.feature),
            provided_by=provided_by(feat, platforms))
    return list(missing.values())


def require_host(res: Resolution, report: HostReport, platforms: PlatformSet) -> None:
    """Raise :class:`HostLacksFeatures` unless ``report``'s host can run ``res``."""
    missing = check_host(res, report, platforms)
    if missing:
        raise HostLacksFeatures(report.name, missing, _without_hint(res, missing, platforms))


def _without_hint(res: Resolution, missing: list[MissingFeature], platforms: PlatformSet) -> str:
    """For an optional feature the platform pinned on (e.g. SMM): how to run a VM without it here."""
    catalog = platforms.catalog
    sets = []
    for m in missing:
        if catalog.get(m.feature).category is not Category.OPTIONAL:
            return ""
        for p in res.properties:
            if p.feature == m.feature and p.layer is Layer.PLATFORM:
                gp = next(g for g in catalog.get(m.feature).governs if g.prop == p.prop)
                where = "-machine" if p.device == "machine" else f"-device ...,id={p.device}"
                sets.append(f"{where} {p.prop}={gp.absent}")
    if not sets:
        return ""
    return (f"the platform is usable here for a VM without {', '.join(m.feature for m in missing)}: set "
            f"{'; '.join(dict.fromkeys(sets))} yourself, or run the VM on a host that has "
            f"{'them' if len(missing) > 1 else 'it'}")


def parse_global(text: str) -> tuple[str, str, str]:
    """``DRIVER.PROP=VALUE`` as QEMU's -global takes it."""
    key, eq, value = text.partition("=")
    driver, dot, prop = key.rpartition(".")
    if not eq or not dot or not driver or not prop:
        raise UsageError(f"invalid -global '{text}'", "expected DRIVER.PROPERTY=VALUE, "
                         "e.g. virtio-net-device.host_uso=off")
    return driver, prop, value


def nic(id: str = "net0", type: str = "virtio-net-pci", backend: Backend = Backend.TAP,
        props: Mapping[str, str] | None = None) -> Device:
    return Device(id, type, backend, dict(props or {}))


def qemu_global_args(res: Resolution) -> list[str]:
    """The resolution as -global / -machine arguments (one per driver and property)."""
    args: list[str] = []
    seen: set[tuple[str, str]] = set()
    for p in res.properties:
        if p.device == "machine":
            args += ["-machine", f"{p.prop}={p.value}"]
            continue
        key = (p.global_driver, p.prop)
        if key in seen:
            continue
        seen.add(key)
        args += ["-global", f"{p.global_driver}.{p.prop}={p.value}"]
    return args
