"""How the probe tests a feature: one frozen dataclass per probe method.

A catalog entry's ``[feature.probe]`` table names its method; :func:`parse`
turns it into the matching class, checking its keys and values with errors
that name the file and line. The Linux probe dispatches on the class with
``match``. Request codes and flag values written in the catalog document the
call for a reader; where the probe can compute them (TUN flags and offload
masks) the catalog's figure must agree with the names it gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmplatform.model.fields import Fields
from vmplatform.records import record

if TYPE_CHECKING:
    from vmplatform.model.jsonvalue import JsonObject, JsonValue

# include/uapi/linux/if_tun.h: the TUNGETFEATURES flags and TUNSETOFFLOAD bits the catalog may name.
TUN_FLAGS = {"IFF_TAP": 0x0002, "IFF_NO_PI": 0x1000, "IFF_VNET_HDR": 0x4000,
             "IFF_MULTI_QUEUE": 0x0100, "IFF_NAPI": 0x0010, "IFF_NAPI_FRAGS": 0x0020}
TUN_OFFLOADS = {
    "TUN_F_CSUM": 0x01, "TUN_F_TSO4": 0x02, "TUN_F_TSO6": 0x04, "TUN_F_TSO_ECN": 0x08,
    "TUN_F_UFO": 0x10, "TUN_F_USO4": 0x20, "TUN_F_USO6": 0x40,
    "TUN_F_UDP_TUNNEL_GSO": 0x080, "TUN_F_UDP_TUNNEL_GSO_CSUM": 0x100,
}


def _opt(key: str, value: JsonValue) -> JsonObject:
    return {} if value is None else {key: value}


@record
class TunFeatures:
    """``TUNGETFEATURES`` on /dev/net/tun reports ``flag``."""

    flag: str
    flag_value: int
    request: int | None = None
    source: str = ""
    method = "tun-features"

    def to_json(self) -> JsonObject:
        return {"method": self.method, "flag": self.flag, "flag-value": self.flag_value,
                **_opt("request", self.request)}


@record
class TunOffload:
    """``TUNSETOFFLOAD`` on a TAP with a vnet header accepts the mask of ``offloads``."""

    offloads: tuple[str, ...]
    mask: int
    request: int | None = None
    source: str = ""
    method = "tun-offload"

    def to_json(self) -> JsonObject:
        return {"method": self.method, "offloads": list(self.offloads), "mask": self.mask,
                **_opt("request", self.request)}


@record
class TunSteeringEbpf:
    """``TUNSETSTEERINGEBPF`` with ``argument`` (-1: detach) is implemented."""

    argument: int = -1
    request: int | None = None
    source: str = ""
    method = "tun-steering-ebpf"

    def to_json(self) -> JsonObject:
        return {"method": self.method, **_opt("request", self.request), "argument": self.argument}


@record
class BpfProgLoad:
    """The kernel loads QEMU's RSS steering program (``bpf(BPF_PROG_LOAD)``)."""

    program: str = ""
    sysctl: str = ""
    source: str = ""
    method = "bpf-prog-load"

    def to_json(self) -> JsonObject:
        return {"method": self.method, **_opt("program", self.program or None),
                **_opt("sysctl", self.sysctl or None)}


@record
class VhostFeatures:
    """``device`` opens and ``VHOST_GET_FEATURES`` answers; with ``bit``, that bit is offered."""

    device: str
    bit: int | None = None
    request_set_owner: int | None = None
    request_get_features: int | None = None
    source: str = ""
    method = "vhost-features"

    def to_json(self) -> JsonObject:
        return {"method": self.method, "device": self.device, **_opt("bit", self.bit),
                **_opt("request-set-owner", self.request_set_owner),
                **_opt("request-get-features", self.request_get_features)}


@record
class KvmCapability:
    """``KVM_CHECK_EXTENSION`` for ``number`` answers > 0, on /dev/kvm or (``on_vm``) on a VM fd."""

    capability: str
    number: int
    on_vm: bool = False
    request: int | None = None
    source: str = ""

    @property
    def method(self) -> str:
        return "kvm-vm-extension" if self.on_vm else "kvm-extension"

    def to_json(self) -> JsonObject:
        return {"method": self.method, "capability": self.capability, "number": self.number,
                **_opt("request", self.request)}


@record
class Sysconf:
    """``sysconf(name)`` equals ``equals``."""

    name: str
    equals: int
    source: str = ""
    method = "sysconf"

    def to_json(self) -> JsonObject:
        return {"method": self.method, "name": self.name, "equals": self.equals}


@record
class FileValue:
    """The file at ``path``, stripped, reads ``equals``."""

    path: str
    equals: str
    source: str = ""
    method = "file-value"

    def to_json(self) -> JsonObject:
        return {"method": self.method, "path": self.path, "equals": self.equals}


ProbeSpec = TunFeatures | TunOffload | TunSteeringEbpf | BpfProgLoad | VhostFeatures | KvmCapability | Sysconf \
    | FileValue
TUN_SPECS = (TunFeatures, TunOffload, TunSteeringEbpf)  # probed together on one TAP

METHODS = ("tun-features", "tun-offload", "tun-steering-ebpf", "bpf-prog-load", "vhost-features",
           "kvm-extension", "kvm-vm-extension", "sysconf", "file-value")


def parse(t: Fields) -> ProbeSpec:
    """The probe spec a ``[feature.probe]`` table describes; a bad one is a DataFileError with its line."""
    method = t.text("method")
    source = t.text("source", "")
    if method == "tun-features":
        t.check_keys({"method", "flag", "flag-value", "request", "source"})
        flag = t.text("flag")
        value = _named(t, "flag", flag, TUN_FLAGS)
        _agrees(t, "flag-value", value)
        return TunFeatures(flag, value, t.optional(t.integer, "request"), source)
    if method == "tun-offload":
        t.check_keys({"method", "offloads", "mask", "request", "source"})
        names = t.strings("offloads")
        if not names:
            raise t.error("offloads", "'offloads' must name at least one TUN_F_* bit")
        mask = 0
        for name in names:
            mask |= _named(t, "offloads", name, TUN_OFFLOADS)
        _agrees(t, "mask", mask)
        return TunOffload(names, mask, t.optional(t.integer, "request"), source)
    if method == "tun-steering-ebpf":
        t.check_keys({"method", "argument", "request", "source"})
        return TunSteeringEbpf(t.integer("argument", -1), t.optional(t.integer, "request"), source)
    if method == "bpf-prog-load":
        t.check_keys({"method", "program", "sysctl", "source"})
        return BpfProgLoad(t.text("program", ""), t.text("sysctl", ""), source)
    if method == "vhost-features":
        t.check_keys({"method", "device", "bit", "request-set-owner", "request-get-features", "source"})
        bit = t.optional(t.integer, "bit")
        if bit is not None and not 0 <= bit < 64:
            raise t.error("bit", f"bit {bit} is outside 0..63 (VHOST_GET_FEATURES answers 64 bits)")
        return VhostFeatures(t.text("device"), bit, t.optional(t.integer, "request-set-owner"),
                             t.optional(t.integer, "request-get-features"), source)
    if method in ("kvm-extension", "kvm-vm-extension"):
        t.check_keys({"method", "capability", "number", "request", "source"})
        return KvmCapability(t.text("capability"), t.integer("number"), method == "kvm-vm-extension",
                             t.optional(t.integer, "request"), source)
    if method == "sysconf":
        t.check_keys({"method", "name", "equals", "source"})
        return Sysconf(t.text("name"), t.integer("equals"), source)
    if method == "file-value":
        t.check_keys({"method", "path", "equals", "source"})
        return FileValue(t.text("path"), t.text("equals"), source)
    raise t.error("method", f"unknown probe method '{method}' (known: {', '.join(sorted(METHODS))})", method)


def _named(t: Fields, key: str, name: str, known: dict[str, int]) -> int:
    try:
        return known[name]
    except KeyError:
        raise t.error(key, f"unknown name '{name}' (known: {', '.join(known)})", name) from None


def _agrees(t: Fields, key: str, computed: int) -> None:
    """A value the catalog writes beside the names must be the one the names give."""
    written = t.optional(t.integer, key)
    if written is not None and written != computed:
        raise t.error(key, f"'{key}' is 0x{written:x} but the names give 0x{computed:x}", key)
