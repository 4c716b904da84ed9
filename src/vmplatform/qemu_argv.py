"""Read a QEMU command line: which machine, accelerator, NICs and backends.

Only what resolution needs is interpreted; every argument keeps its index so
the front-end can pass everything else through byte for byte. Option values
use QEMU's QemuOpts syntax (``driver,key=value,...``; ``,,`` escapes a comma)
or, for -device, JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import UsageError
from .machines import MachineCatalog
from .resolve import Backend, Device

# Netdev types whose peer has no vnet header: QEMU offers no TAP offload.
NO_VNET_HDR_NETDEVS = {"user", "socket", "stream", "dgram", "vde", "l2tpv3", "hubport", "passt"}
# Netdev types whose offered features come from another process or hardware:
# the host kernel does not decide them, so vmplatform does not pin them.
FOREIGN_NETDEVS = {"vhost-user", "vhost-vdpa", "af-xdp", "vmnet-host", "vmnet-shared", "vmnet-bridged"}

# Used when the machine catalog has no option table (an older snapshot).
FALLBACK_FLAGS = frozenset({
    "-S", "-daemonize", "-enable-kvm", "-enable-sync-profile", "-full-screen", "-h", "-help", "-jitdump",
    "-mem-prealloc", "-no-fd-bootchk", "-no-reboot", "-no-shutdown", "-no-user-config", "-nodefaults",
    "-nographic", "-only-migratable", "-perfmap", "-preconfig", "-s", "-snapshot", "-usb", "-version",
    "-win2k-hack", "-xen-attach", "-xen-domid-restrict"})


def split_opts(text: str) -> list[str]:
    """Split QemuOpts text on single commas (``,,`` is a literal comma)."""
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if i + 1 < len(text) and text[i + 1] == ",":
                cur.append(",")
                i += 2
                continue
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def parse_opts(text: str, implied: str) -> dict[str, str]:
    """``virtio-net-pci,netdev=n0`` -> {implied: 'virtio-net-pci', 'netdev': 'n0'}."""
    out: dict[str, str] = {}
    for i, part in enumerate(split_opts(text)):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq:
            if i == 0:
                out[implied] = key
            else:
                out[key] = "on"   # QemuOpts: a bare key is a boolean true
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Option:
    index: int                 # argv index of the option name
    name: str                  # normalised: one leading dash
    value: str | None


@dataclass(frozen=True)
class DeviceArg:
    option: Option
    driver: str
    props: Mapping[str, str]
    json_form: bool
    ordinal: int               # n-th -device of this driver, for a readable name

    @property
    def label(self) -> str:
        return self.props.get("id") or f"{self.driver}#{self.ordinal}"


@dataclass
class QemuCommandLine:
    argv: list[str]
    options: list[Option] = field(default_factory=list)
    machine_type: str | None = None
    machine_props: dict[str, str] = field(default_factory=dict)
    accel: str = "tcg"            # QEMU's default for qemu-system-* when not named "*kvm"
    netdevs: dict[str, dict[str, str]] = field(default_factory=dict)
    devices: list[DeviceArg] = field(default_factory=list)
    globals: list[tuple[str, str, str]] = field(default_factory=list)
    platform: str | None = None
    platform_indices: tuple[int, ...] = ()
    uses_readconfig: bool = False
    warnings: list[str] = field(default_factory=list)

    def machine_option(self) -> Option | None:
        for opt in self.options:
            if opt.name in ("-machine", "-M"):
                return opt
        return None


def _option_name(token: str) -> str:
    return "-" + token.lstrip("-") if token.startswith("--") else token


def parse(argv: Sequence[str], mc: MachineCatalog | None = None) -> QemuCommandLine:
    """Parse QEMU's argv (without argv[0])."""
    flags = mc.option_flags if mc is not None and mc.option_flags else FALLBACK_FLAGS
    with_arg = mc.options_with_arg if mc is not None else frozenset()
    cl = QemuCommandLine(list(argv))
    i = 0
    ordinals: dict[str, int] = {}
    while i < len(argv):
        tok = argv[i]
        if not tok.startswith("-") or tok == "-":
            cl.options.append(Option(i, "", tok))  # a positional disk image (QEMU's legacy -hda)
            i += 1
            continue
        name = _option_name(tok)
        if name == "-platform":
            if i + 1 >= len(argv):
                raise UsageError("-platform needs an argument", "use -platform NAME, -platform FILE or "
                                                                 "-platform help")
            cl.platform = argv[i + 1]
            cl.platform_indices += (i, i + 1)
            i += 2
            continue
        if not with_arg:
            takes = name not in flags
        elif name in with_arg or name in flags:
            takes = name in with_arg
        else:  # unknown to this QEMU's table: guess from the next token
            takes = i + 1 < len(argv) and not argv[i + 1].startswith("-")
        value = None
        if takes:
            if i + 1 >= len(argv):
                raise UsageError(f"option {tok} needs an argument", f"see '{tok} help' in QEMU")
            value = argv[i + 1]
        opt = Option(i, name, value)
        cl.options.append(opt)
        _interpret(cl, opt, ordinals)
        i += 2 if takes else 1
    return cl


def _interpret(cl: QemuCommandLine, opt: Option, ordinals: dict[str, int]) -> None:
    name, value = opt.name, opt.value
    if name == "-enable-kvm":
        cl.accel = "kvm"
    elif name == "-accel" and value is not None:
        cl.accel = parse_opts(value, "accel").get("accel", cl.accel).split(":")[0]
    elif name in ("-machine", "-M") and value is not None:
        props = parse_opts(value, "type")
        if "type" in props:
            cl.machine_type = props.pop("type")
        if "accel" in props:
            cl.accel = props.pop("accel").split(":")[0]
        cl.machine_props.update(props)
    elif name == "-netdev" and value is not None:
        props = parse_opts(value, "type")
        if "id" in props:
            cl.netdevs[props["id"]] = props
    elif name == "-device" and value is not None:
        if value.lstrip().startswith("{"):
            try:
                obj = json.loads(value)
            except json.JSONDecodeError as err:
                raise UsageError(f"-device {value}: invalid JSON ({err.msg})") from err
            if not isinstance(obj, dict) or "driver" not in obj:
                raise UsageError(f"-device {value}: JSON form needs an object with 'driver'")
            props = {k: _json_value(v) for k, v in obj.items()}
            driver, json_form = str(obj["driver"]), True
        else:
            props = parse_opts(value, "driver")
            driver, json_form = props.get("driver", ""), False
        if driver in ("help", "?") or props.get("help"):
            return
        ordinals[driver] = ordinals.get(driver, 0) + 1
        cl.devices.append(DeviceArg(opt, driver, {k: v for k, v in props.items() if k != "driver"},
                                    json_form, ordinals[driver]))
    elif name == "-global" and value is not None:
        if "=" in value.split(",")[0] and value.startswith("driver="):
            p = parse_opts(value, "driver")
            cl.globals.append((p.get("driver", ""), p.get("property", ""), p.get("value", "")))
        else:
            key, _, val = value.partition("=")
            drv, _, prop = key.rpartition(".")
            cl.globals.append((drv, prop, val))
    elif name == "-readconfig":
        cl.uses_readconfig = True
    elif name == "-nic" and value is not None:
        props = parse_opts(value, "type")
        if "virtio" in props.get("model", ""):
            cl.warnings.append(f"-nic {value}: the virtio NIC it creates cannot be pinned per device; "
                               "use -netdev + -device to let vmplatform pin it")


def _json_value(v: object) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return str(v)


def backend_of(cl: QemuCommandLine, dev: DeviceArg) -> Backend | None:
    """The NIC backend class of ``dev``: decides which host features QEMU consults."""
    nd_id = dev.props.get("netdev")
    if nd_id is None:
        return Backend.NO_VNET_HDR  # no peer: QEMU offers no offload needing a vnet header
    nd = cl.netdevs.get(nd_id)
    if nd is None:
        raise UsageError(f"-device {dev.label}: netdev '{nd_id}' is not defined by any -netdev",
                         "add -netdev TYPE,id=" + nd_id)
    kind = nd.get("type", "")
    if kind in ("tap", "bridge"):
        if nd.get("vnet_hdr", "on") in ("off", "false", "no"):
            return Backend.NO_VNET_HDR
        if nd.get("vhost", "off") in ("on", "true", "yes") or "vhostfd" in nd or "vhostfds" in nd \
                or nd.get("vhostforce", "off") in ("on", "true", "yes"):
            return Backend.TAP_VHOST
        return Backend.TAP
    if kind in NO_VNET_HDR_NETDEVS:
        return Backend.NO_VNET_HDR
    return None  # foreign (vhost-user, vDPA, ...): not decided by this host's kernel


def devices_for_resolution(cl: QemuCommandLine, mc: MachineCatalog,
                           governed: set[str]) -> list[tuple[DeviceArg, Device]]:
    """The -device entries that have catalog-governed properties, as resolution Devices."""
    out = []
    for dev in cl.devices:
        if not (mc.lineage(dev.driver) & governed):
            continue
        is_nic = "virtio-net-device" in mc.lineage(dev.driver)
        backend = backend_of(cl, dev) if is_nic else None
        if is_nic and backend is None:
            nd = cl.netdevs[dev.props["netdev"]]
            cl.warnings.append(f"{dev.label}: netdev type {nd.get('type')} decides its own features; "
                               "vmplatform does not pin them")
            continue
        props = {k: v for k, v in dev.props.items() if k not in ("id", "netdev", "bus", "addr", "mac")}
        out.append((dev, Device(dev.label, dev.driver, backend, props)))
    return out
