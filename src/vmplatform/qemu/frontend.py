"""The QEMU front-end: QEMU's argv plus ``-platform`` -> explicit properties.

:func:`rewrite` resolves every governed property of every affected device in
the argv against the chosen platform, refuses (before QEMU starts) when this
host cannot provide what the result needs, and returns the argv to exec:
the user's arguments byte for byte, minus ``-platform``, with the pinned
properties appended to each ``-device`` (and ``-machine``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from vmplatform.errors import UsageError
from vmplatform.model.machines import MachineCatalog
from vmplatform.model.platforms import Platform, PlatformSet, platform_from_spec
from vmplatform.model.report import HostReport
from vmplatform.model.vm import VmModel
from vmplatform.qemu.argv import DeviceArg, QemuCommandLine, devices_for_resolution, parse
from vmplatform.records import field, record
from vmplatform.resolution.layers import Layer
from vmplatform.resolution.manifest import require_usable
from vmplatform.resolution.resolve import Resolution, ResolvedProperty, require_host, resolve
from vmplatform.resolution.support import SupportReport, evaluate


@record(frozen=False)
class Rewrite:
    argv: list[str]
    platform: Platform
    resolution: Resolution
    command_line: QemuCommandLine
    notes: list[str] = field(default_factory=list)


def choose_platform(spec: str | None, platforms: PlatformSet,
                    support: SupportReport) -> tuple[Platform, PlatformSet, str]:
    """The platform named by ``-platform`` (name or file), else the host's default."""
    if spec is None:
        plat = support.default
        return plat, platforms, (f"no -platform given: using {plat.name}, the latest platform "
                                 f"host {support.host.name} supports")
    plat, platforms = platform_from_spec(spec, platforms)
    return plat, platforms, ""


def rewrite(argv: Sequence[str], *, mc: MachineCatalog, platforms: PlatformSet, report: HostReport,
            platform: Platform | None = None) -> Rewrite:
    """Resolve ``argv`` on this host; ``platform`` overrides any -platform in it.

    The argv is read into the VM model (:mod:`vmplatform.model.vm`); what the model
    could not place is refused by name, so is a backend this host cannot open
    (``vhost=on`` without /dev/vhost-net).
    """
    cl = parse(argv, mc)
    cl.vm.refuse_unplaced()
    notes: list[str] = list(cl.notes)
    if platform is not None:
        platforms = platforms.with_platform(platform)
    else:
        # KVM-only features matter only under KVM
        accel = cl.vm.machine.accel
        platform, platforms, note = choose_platform(cl.platform, platforms, evaluate(report, platforms, accel))
        notes += [note] if note else []
    machine = mc.get(cl.machine_type).name if cl.machine_type else _default_machine(mc)
    governed = {gp.driver for f in platforms.catalog for gp in f.governs}
    pairs = devices_for_resolution(cl, mc, governed)
    config = cl.vm.config(machine, [(0, d) for _, d in pairs])
    res = resolve(mc, platforms, config, platform)
    require_host(res, report, platforms)
    require_usable(res, report, platforms)
    require_backends(cl.vm, report)
    notes += [n for n in cl.notes if n not in notes]
    return Rewrite(_apply(cl, res, mc, [a for a, _ in pairs]), platform, res, cl, notes)


def require_backends(vm: VmModel, report: HostReport) -> None:
    """A netdev QEMU opens /dev/vhost-net for cannot start on a host without it: refuse first."""
    from vmplatform.errors import HostLacksFeatures, MissingFeature
    from vmplatform.model.report import FeatureStatus

    if report.status("vhost-net") is not FeatureStatus.UNSUPPORTED:
        return
    users = [b.id for b in vm.backends if b.opens_vhost]
    if users:
        raise HostLacksFeatures(report.name, [MissingFeature(
            feature="vhost-net", needed_by=f"-netdev {', '.join(users)}: vhost=on (QEMU opens /dev/vhost-net)",
            status=report.status("vhost-net").value, reason=report.reason("vhost-net"),
            provided_by="a host with /dev/vhost-net (module vhost_net)")],
            "run the VM with vhost=off here, or load vhost_net")


def _default_machine(mc: MachineCatalog) -> str:
    m = mc.default_machine()
    if m is None:
        raise UsageError("no -machine given and this QEMU has no default machine type",
                         "add -machine TYPE, e.g. -machine pc-q35-10.0")
    return m.name


def _apply(cl: QemuCommandLine, res: Resolution, mc: MachineCatalog, devs: list[DeviceArg]) -> list[str]:
    out = list(cl.argv)
    by_device: dict[str, list[ResolvedProperty]] = {}
    machine_pins: list[ResolvedProperty] = []
    for p in res.properties:
        if p.layer is Layer.USER_DEVICE:
            continue  # the user already wrote it; leave their text alone
        (machine_pins if p.device == "machine" else by_device.setdefault(p.device, [])).append(p)
    for dev in devs:
        pins = by_device.get(dev.label, [])
        if not pins:
            continue
        idx = dev.option.index + 1
        if dev.json_form:
            obj = json.loads(out[idx])
            for p in pins:
                obj[p.prop] = _json_pin(mc, dev.device.qom_type, p)
            out[idx] = json.dumps(obj, separators=(",", ":"))
        else:
            out[idx] = out[idx] + "," + ",".join(f"{p.prop}={p.value}" for p in pins)
    if machine_pins:
        text = ",".join(f"{p.prop}={p.value}" for p in machine_pins)
        mopt = cl.machine_option()
        if mopt is not None:
            out[mopt.index + 1] = out[mopt.index + 1] + "," + text
        else:
            out += ["-machine", text]
    return out


def _json_pin(mc: MachineCatalog, driver: str, p: ResolvedProperty) -> object:
    """JSON -device needs real booleans for bool properties (OnOffAuto takes strings)."""
    default = mc.device_default(driver, p.prop)
    if default in ("on", "off") and p.value in ("on", "off"):
        return p.value == "on"
    return p.value


def platform_help(support: SupportReport) -> str:
    """``-platform help``, in the style of ``-machine help``."""
    from vmplatform.resolution.platform_text import platform_help as text

    return text(support)
