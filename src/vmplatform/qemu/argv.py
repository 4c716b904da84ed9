"""Read a QEMU command line into the VM model (:mod:`vmplatform.model.vm`).

Both option syntaxes are read: QemuOpts (``driver,key=value``; ``,,`` is a
literal comma) and JSON (``-device '{"driver":...}'``, the same for
``-netdev``, ``-object``, ``-blockdev``; libvirt >= 7 writes JSON).

Roads that hide a device from a per-device pin are *expanded* first into the
``-netdev`` + ``-device`` pair QEMU builds from them, and the front-end runs
the expanded argv:

* ``-nic TYPE,model=M,mac=..,id=..,NETDEV-OPTS`` (net/net.c ``net_param_nic``:
  the options minus ``model``/``mac`` are the netdev, ``id`` its id) ->
  ``-netdev TYPE,id=..,NETDEV-OPTS -device M,netdev=..,mac=..``; the model
  ``virtio`` is QEMU's short name for ``virtio-net-pci`` (hw/pci/pci.c
  ``pci_nic_models`` / ``pci_nic_names``);
* legacy ``-net nic,model=M[,netdev=ID]``: with ``netdev=`` the NIC is
  connected to that netdev directly; without it, to hub 0, which is what the
  ``-net`` backends (``-net tap``, ``-net user``) join (net/hub.c): the NIC's
  peer is then a hub port, which has no vnet header, so it becomes
  ``-netdev hubport,hubid=0`` + ``-device M``;
* ``-readconfig FILE``: every section becomes the option of the same group
  (``[device "n0"]`` -> ``-device id=n0,...``, ``[global]`` -> ``-global``,
  ``[machine]`` -> ``-machine``); a group without a command-line equivalent
  is refused by name.

The ``-device`` of an expanded ``-nic`` / ``-net nic`` goes before the first
``-device``: QEMU creates those NICs with the board, before any ``-device``,
and the PCI slot they get is guest-visible. Only governed NIC models are
expanded; everything else passes byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from vmplatform.errors import FileFormatError, UsageError
from vmplatform.model import _jsontext
from vmplatform.model.accel import Accel
from vmplatform.model.machines import MachineCatalog
from vmplatform.model.vm import (
    FOREIGN_NETDEVS,
    NO_VNET_HDR_NETDEVS,
    Device,
    Firmware,
    GlobalProp,
    Machine,
    NetBackend,
    Unplaced,
    VmDevice,
    VmModel,
    device,
    netdev,
)
from vmplatform.records import field, record

__all__ = ["NO_VNET_HDR_NETDEVS", "FOREIGN_NETDEVS", "QemuCommandLine", "DeviceArg", "Option", "parse",
           "parse_opts", "split_opts", "devices_for_resolution", "NIC_MODELS", "is_help_request", "options",
           "option_value", "without_option", "named_accel"]

# Used when the machine catalog has no option table (an older snapshot).
FALLBACK_FLAGS = frozenset({
    "-S", "-daemonize", "-enable-kvm", "-enable-sync-profile", "-full-screen", "-h", "-help", "-jitdump",
    "-mem-prealloc", "-no-fd-bootchk", "-no-reboot", "-no-shutdown", "-no-user-config", "-nodefaults",
    "-nographic", "-only-migratable", "-perfmap", "-preconfig", "-s", "-snapshot", "-usb", "-version",
    "-win2k-hack", "-xen-attach", "-xen-domid-restrict"})

# -nic / -net nic model short names (hw/pci/pci.c pci_nic_models -> pci_nic_names).
NIC_MODELS: Mapping[str, str] = {"virtio": "virtio-net-pci"}

# -readconfig groups whose option has another name (qemu-options.hx / vl.c qemu_find_opts).
_READCONFIG_OPTION = {"memory": "-m", "smp-opts": "-smp", "boot-opts": "-boot", "mon": "-mon"}
_READCONFIG_GROUPS = frozenset({"device", "netdev", "chardev", "drive", "object", "global", "machine", "accel",
                                "mon", "numa", "fsdev", "rtc", "name", "memory", "smp-opts", "boot-opts",
                                "iscsi", "spice", "sandbox", "msg", "overcommit", "audiodev", "action", "net",
                                "nic"})
_MAX_READCONFIG_DEPTH = 8


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


def _join_opts(props: Mapping[str, str], first: str | None = None) -> str:
    parts = [first.replace(",", ",,")] if first is not None else []
    parts += [f"{k}={v.replace(',', ',,')}" for k, v in props.items()]
    return ",".join(parts)


def is_json(value: str) -> bool:
    return value.lstrip().startswith("{")


def _json_obj(option: str, value: str, key: str | None) -> dict[str, object]:
    try:
        obj = _jsontext.loads(value)
    except json.JSONDecodeError as err:
        raise UsageError(f"{option} {value[:200]}: invalid JSON ({err.msg} at column {err.colno})",
                         f"write {option} as key=value or as one JSON object") from err
    if not isinstance(obj, dict) or (key is not None and not isinstance(obj.get(key), str)):
        raise UsageError(f"{option} {value}: the JSON form needs an object with '{key}'")
    return obj


@record
class Option:
    index: int                 # argv index of the option name
    name: str                  # normalised: one leading dash
    value: str | None


@record
class DeviceArg:
    """Where a model device sits in the (expanded) argv, for appending its pins."""

    option: Option
    device: VmDevice
    json_form: bool
    label: str

    @property
    def driver(self) -> str:
        return self.device.driver

    @property
    def props(self) -> Mapping[str, str]:
        return self.device.props


@record(frozen=False)
class QemuCommandLine:
    argv: list[str]                         # expanded: -nic / -net nic / -readconfig replaced, no -platform
    vm: VmModel
    options: list[Option] = field(default_factory=list)
    devices: list[DeviceArg] = field(default_factory=list)
    platform: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def machine_type(self) -> str | None:
        return self.vm.machine.type

    @property
    def accel(self) -> str:
        return self.vm.machine.accel.value

    @property
    def machine_props(self) -> Mapping[str, str]:
        return self.vm.machine.props

    @property
    def globals(self) -> list[tuple[str, str, str]]:
        return [(g.driver, g.prop, g.value) for g in self.vm.globals]

    def machine_option(self) -> Option | None:
        for opt in self.options:
            if opt.name in ("-machine", "-M"):
                return opt
        return None


def _option_name(token: str) -> str:
    return "-" + token.lstrip("-") if token.startswith("--") else token


def _tokenise(argv: Sequence[str], mc: MachineCatalog | None) -> list[Option]:
    flags = mc.option_flags if mc is not None and mc.option_flags else FALLBACK_FLAGS
    with_arg = mc.options_with_arg if mc is not None else frozenset()
    out: list[Option] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if not tok.startswith("-") or tok == "-":
            out.append(Option(i, "", tok))  # a positional disk image (QEMU's legacy -hda)
            i += 1
            continue
        name = _option_name(tok)
        if name == "-platform":
            takes = True
        elif not with_arg:
            takes = name not in flags
        elif name in with_arg or name in flags:
            takes = name in with_arg
        else:  # unknown to this QEMU's table: guess from the next token
            takes = i + 1 < len(argv) and not argv[i + 1].startswith("-")
        value = None
        if takes:
            if i + 1 >= len(argv):
                if name == "-platform":
                    raise UsageError("-platform needs an argument",
                                     "use -platform NAME, -platform FILE or -platform help")
                raise UsageError(f"option {tok} needs an argument", f"see '{tok} help' in QEMU")
            value = argv[i + 1]
        out.append(Option(i, name, value))
        i += 2 if takes else 1
    return out


def options(argv: Sequence[str], mc: MachineCatalog | None = None) -> list[Option]:
    """QEMU's argv as options: which token is an option and which its value, decided by ``mc``'s option
    table (without one, every option outside :data:`FALLBACK_FLAGS` takes a value). The one reader of
    QEMU's argv syntax: ``vmplatform qemu``, the front-end and ``vmplatform-qemu`` all go through it."""
    return _tokenise(argv, mc)


def option_value(argv: Sequence[str], name: str, mc: MachineCatalog | None = None) -> str | None:
    """The value of the first ``name`` option (``-platform``, ``-name``, ``-uuid``; ``--name`` counts too),
    None when there is none."""
    return next((o.value for o in _tokenise(argv, mc) if o.name == name), None)


def without_option(argv: Sequence[str], name: str, mc: MachineCatalog | None = None) -> list[str]:
    """``argv`` without any ``name`` option and its value; every other token byte for byte."""
    drop: set[int] = set()
    for o in _tokenise(argv, mc):
        if o.name == name:
            drop |= {o.index, o.index + 1} if o.value is not None else {o.index}
    return [a for i, a in enumerate(argv) if i not in drop]


def named_accel(argv: Sequence[str], mc: MachineCatalog | None = None) -> Accel | None:
    """The accelerator ``argv`` names (``-accel``, ``-machine accel=``, ``-enable-kvm``; the last one wins,
    as in :class:`_Reader`), None when it names none or one QEMU does not know."""
    reader = _Reader(mc)
    named = False
    for opt in _tokenise(argv, mc):
        if opt.name in ("-accel", "-enable-kvm") or \
                opt.name in ("-machine", "-M") and opt.value is not None and "accel" in parse_opts(opt.value, "type"):
            named = True
            try:
                reader.read_accel(opt)
            except UsageError:
                return None
    return reader.accel if named else None


def is_help_request(argv: Sequence[str], mc: MachineCatalog | None = None) -> bool:
    """``-version``, ``-h``, ``-machine help``, ``-device help``, ``-device virtio-net-pci,help``, ``-cpu ?``...:
    QEMU answers and exits without running a VM, so the argv goes to it unchanged."""
    for opt in _tokenise(argv, mc):
        if opt.name in ("-version", "-h", "-help"):
            return True
        if opt.value is None or opt.name == "-platform":
            continue
        if opt.value in ("help", "?"):
            return True
        if opt.name in ("-device", "-machine", "-M", "-accel", "-cpu", "-netdev", "-nic", "-object") \
                and not is_json(opt.value) and any(p in ("help", "?") for p in split_opts(opt.value)):
            return True
    return False


def _governed_nic(model: str, mc: MachineCatalog | None) -> str | None:
    """The QOM type of a -nic / -net nic model, if it is a NIC vmplatform pins."""
    qom = NIC_MODELS.get(model, model)
    if mc is not None:
        qom = mc.aliases.get(qom, qom)
        return qom if "virtio-net-device" in mc.lineage(qom) else None
    return qom if qom.startswith("virtio-net") else None


class _Ids:
    def __init__(self, argv: Sequence[str]) -> None:
        self.text = "\n".join(argv)
        self.n = 0

    def new(self, stem: str) -> str:
        while True:
            cand = f"vmplatform-{stem}{self.n}"
            self.n += 1
            if cand not in self.text:
                return cand


def _expand_nic(value: str, mc: MachineCatalog | None, ids: _Ids) -> tuple[list[str], list[str]] | None:
    props = parse_opts(value, "type")
    model = props.get("model")
    if model is None or props.get("type") == "none":
        return None  # the board's default model (e1000 / e1000e on x86): not governed
    qom = _governed_nic(model, mc)
    if qom is None:
        return None
    nd_type = props.pop("type", "user")
    nd_id = props.pop("id", None) or ids.new("nic")
    dev = {"netdev": nd_id}
    for key in ("mac",):
        if key in props:
            dev[key] = props.pop(key)
    props.pop("model")
    return (["-netdev", _join_opts({"id": nd_id, **props}, nd_type)],
            ["-device", _join_opts(dev, NIC_MODELS.get(model, model))])


def _expand_net(value: str, mc: MachineCatalog | None, ids: _Ids) -> tuple[list[str], list[str]] | None:
    props = parse_opts(value, "type")
    if props.get("type") != "nic" or "model" not in props:
        return None
    model = props["model"]
    if _governed_nic(model, mc) is None:
        return None
    out: list[str] = []
    nd_id = props.get("netdev")
    if nd_id is None:
        nd_id = ids.new("hubport")
        out += ["-netdev", f"hubport,id={nd_id},hubid=0"]
    dev = {"netdev": nd_id}
    for src, dst in (("macaddr", "mac"), ("addr", "addr"), ("vectors", "vectors"), ("name", "id")):
        if src in props:
            dev[dst] = props[src]
    return out, ["-device", _join_opts(dev, NIC_MODELS.get(model, model))]


def read_config(text: str, source: str) -> list[tuple[str, str | None, dict[str, str]]]:
    """QEMU's config file format (util/qemu-config.c): ``[group]`` or ``[group "id"]``, then ``key = "value"``."""
    sections: list[tuple[str, str | None, dict[str, str]]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            head = line.strip("[]").strip()
            group, _, rest = head.partition(" ")
            rest = rest.strip()
            ident = rest.strip('"') if rest else None
            if not group or (rest and not (rest.startswith('"') and rest.endswith('"'))):
                raise FileFormatError(source, "", f"bad section header {line!r}", n,
                                      'write [group] or [group "id"]')
            sections.append((group, ident, {}))
            continue
        key, eq, val = line.partition("=")
        val = val.strip()
        if not eq or not sections or not (len(val) >= 2 and val.startswith('"') and val.endswith('"')):
            raise FileFormatError(source, "", f"expected 'key = \"value\"' inside a section, got {line!r}", n,
                                  "see QEMU's -writeconfig output for the format")
        sections[-1][2][key.strip()] = val[1:-1]
    return sections


def _expand_readconfig(path: str, unplaced: list[Unplaced]) -> list[str]:
    import sys

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path (only reachable from Python)
        reason = err.strerror if isinstance(err, OSError) else "not a file name"
        raise FileFormatError(f"-readconfig {path}", "", f"cannot read: {reason}",
                              hint="pass a file written by QEMU's -writeconfig or "
                                   "'vmplatform export --format readconfig'") from err
    out: list[str] = []
    for group, ident, props in read_config(text, path):
        if group not in _READCONFIG_GROUPS:
            unplaced.append(Unplaced(f"-readconfig {path} [{group}]",
                                     "a section vmplatform has no command-line equivalent for"))
            continue
        opts = ({"id": ident} if ident is not None else {}) | props
        if group == "global":
            out += ["-global", _join_opts(opts)]
        else:
            out += [_READCONFIG_OPTION.get(group, "-" + group), _join_opts(opts)]
    return out


@record(frozen=False)
class _Expansion:
    argv: list[str] = field(default_factory=list)
    platform: str | None = None
    unplaced: list[Unplaced] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    board_nics: list[str] = field(default_factory=list)   # -device tokens of -nic / -net nic NICs

    def with_board_nics(self, mc: MachineCatalog | None) -> list[str]:
        """The argv with the board's NICs before the first -device: QEMU creates -nic / -net nic NICs
        while it builds the board (vl.c qemu_init_board -> pc_nic_init / pci_init_nic_devices),
        before any -device, so they take the lower PCI slots; keeping that order keeps the
        guest-visible addresses."""
        if not self.board_nics:
            return self.argv
        first = next((o.index for o in _tokenise(self.argv, mc) if o.name == "-device"), len(self.argv))
        return self.argv[:first] + self.board_nics + self.argv[first:]


def _expand(argv: Sequence[str], mc: MachineCatalog | None, ids: _Ids | None = None,
            depth: int = 0) -> _Expansion:
    """The argv with every hiding road replaced; a -readconfig file's options are expanded in turn
    (its [net] / [nic] sections included)."""
    ex = _Expansion()
    ids = ids or _Ids(argv)
    for opt in _tokenise(argv, mc):
        original = [argv[opt.index]] + ([opt.value] if opt.value is not None else [])
        if opt.name == "":
            ex.argv.append(argv[opt.index])
            continue
        if opt.name == "-platform":
            ex.platform = opt.value
            continue
        nic: tuple[list[str], list[str]] | None = None
        if opt.value is not None and opt.name == "-nic":
            nic = _expand_nic(opt.value, mc, ids)
        elif opt.value is not None and opt.name == "-net":
            nic = _expand_net(opt.value, mc, ids)
        elif opt.value is not None and opt.name == "-readconfig":
            if depth >= _MAX_READCONFIG_DEPTH:
                raise FileFormatError(f"-readconfig {opt.value}", "", f"config files nested more than "
                                      f"{_MAX_READCONFIG_DEPTH} deep", hint="a config file must not read itself")
            inner = _expand(_expand_readconfig(opt.value, ex.unplaced), mc, ids, depth + 1)
            ex.argv += inner.argv
            ex.unplaced += inner.unplaced
            ex.notes += inner.notes
            ex.board_nics += inner.board_nics
            continue
        if nic is None:
            ex.argv += original
            continue
        netdev_args, device_args = nic
        ex.notes.append(f"{opt.name} {opt.value} runs as {' '.join(netdev_args + device_args)}, so the NIC "
                        "carries its pins")
        ex.argv += netdev_args
        ex.board_nics += device_args
    return ex


@record(frozen=False)
class _Reader:
    mc: MachineCatalog | None
    machine_type: str | None = None
    accel: Accel = Accel.TCG
    machine_props: dict[str, str] = field(default_factory=dict)
    backends: dict[str, NetBackend] = field(default_factory=dict)
    devices: list[tuple[Option, VmDevice, bool]] = field(default_factory=list)
    globals: list[GlobalProp] = field(default_factory=list)
    bios: str | None = None
    pflash: list[str] = field(default_factory=list)
    sets: list[tuple[str, str, str, str]] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)

    def read_accel(self, opt: Option) -> None:
        """The accelerator part of an option (``-enable-kvm``, ``-accel``, ``-machine accel=``)."""
        if opt.name == "-enable-kvm":
            self.accel = Accel.KVM
        elif opt.value is None:
            return
        elif opt.name == "-accel":
            self.accel = Accel.parse(parse_opts(opt.value, "accel").get("accel", self.accel.value))
        elif opt.name in ("-machine", "-M"):
            accel = parse_opts(opt.value, "type").get("accel")
            if accel is not None:
                self.accel = Accel.parse(accel)

    def read(self, opt: Option) -> None:
        name, value = opt.name, opt.value
        self.read_accel(opt)
        if value is None:
            return
        if name == "-accel":
            pass
        elif name in ("-machine", "-M"):
            props = parse_opts(value, "type")
            if "type" in props:
                self.machine_type = props.pop("type")
            props.pop("accel", None)
            self.machine_props.update(props)
            self.pflash += [props[k] for k in ("pflash0", "pflash1") if k in props]
        elif name == "-netdev":
            nd = _json_obj(name, value, "type") if is_json(value) else dict(parse_opts(value, "type"))
            if "id" in nd:
                self.backends[str(nd["id"])] = netdev(str(nd.get("type", "")), str(nd["id"]), nd)
        elif name == "-device":
            self._device(opt, value)
        elif name in ("-object", "-blockdev") and is_json(value):
            _json_obj(name, value, "qom-type" if name == "-object" else "driver")
        elif name == "-global":
            self.globals.append(_global(value))
        elif name == "-set":
            self._set(value)
        elif name == "-bios":
            self.bios = value
        elif name == "-drive":
            p = parse_opts(value, "file")
            if p.get("if") == "pflash":
                self.pflash.append(p.get("file", ""))

    def _device(self, opt: Option, value: str) -> None:
        if is_json(value):
            obj = _json_obj("-device", value, "driver")
            driver, json_form = str(obj["driver"]), True
            props: Mapping[str, object] = obj
        else:
            sprops = parse_opts(value, "driver")
            driver, json_form, props = sprops.get("driver", ""), False, sprops
        if driver in ("help", "?") or "help" in props:
            return
        aliases = self.mc.aliases if self.mc is not None else {}
        self.devices.append((opt, device(driver, props, aliases=aliases), json_form))

    def _set(self, value: str) -> None:
        """``-set GROUP.ID.PROP=VALUE`` edits an option QEMU has not acted on yet (vl.c qemu_set_option)."""
        key, eq, val = value.partition("=")
        group, _, rest = key.partition(".")
        ident, _, prop = rest.rpartition(".")
        if not eq or not ident or not prop:
            return  # QEMU reports the syntax error itself
        self.sets.append((group, ident, prop, val))

    def model(self, platform: str | None, unplaced: list[Unplaced]) -> tuple[VmModel, list[DeviceArg]]:
        devices = [d for _, d, _ in self.devices]
        backends = dict(self.backends)
        for group, ident, prop, val in self.sets:
            if group == "device":
                devices = [VmDevice(d.driver, d.qom_type, {**d.props, prop: val}, d.origin) if d.id == ident else d
                           for d in devices]
            elif group == "netdev" and ident in backends:
                b = backends[ident]
                backends[ident] = NetBackend(b.id, b.type, {**b.props, prop: val})
        secure = any(g.driver == "cfi.pflash01" and g.prop == "secure" and g.value in ("on", "true")
                     for g in self.globals)
        vm = VmModel(Machine(self.machine_type, self.accel, self.machine_props), tuple(devices),
                     tuple(backends.values()), tuple(self.globals),
                     Firmware(self.bios, tuple(self.pflash), secure), tuple(self.unplaced + unplaced), platform)
        labels = vm.labels()
        args = [DeviceArg(opt, dev, json_form, label)
                for (opt, _, json_form), dev, label in zip(self.devices, devices, labels, strict=True)]
        return vm, args


def _global(value: str) -> GlobalProp:
    if value.startswith("driver="):
        p = parse_opts(value, "driver")
        return GlobalProp(p.get("driver", ""), p.get("property", ""), p.get("value", ""))
    key, _, val = value.partition("=")
    drv, _, prop = key.rpartition(".")
    return GlobalProp(drv, prop, val)


def parse(argv: Sequence[str], mc: MachineCatalog | None = None) -> QemuCommandLine:
    """Read QEMU's argv (without argv[0]) into the VM model; see the module docstring for expansions."""
    ex = _expand(argv, mc)
    expanded, platform, unplaced, notes = ex.with_board_nics(mc), ex.platform, ex.unplaced, ex.notes
    reader = _Reader(mc)
    options = _tokenise(expanded, mc)
    for opt in options:
        reader.read(opt)
    vm, devices = reader.model(platform, unplaced)
    return QemuCommandLine(expanded, vm, options, devices, platform, notes)


def devices_for_resolution(cl: QemuCommandLine, mc: MachineCatalog,
                           governed: set[str]) -> list[tuple[DeviceArg, Device]]:
    """The -device entries that have catalog-governed properties, as resolution Devices."""
    pairs, notes = cl.vm.resolution_input(mc, governed)
    cl.notes += [n for n in notes if n not in cl.notes]
    return [(cl.devices[i], d) for i, d in pairs]
