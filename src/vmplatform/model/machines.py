"""Machine types: QEMU's versioned, host-invariant defaults, read from a real QEMU.

A *machine catalog* is a snapshot of one QEMU binary: every machine type with
its compat props (in QEMU's order: later entries win), the QOM type parents
(compat props name ancestor types such as ``virtio-device``), and the
default value of every catalog-governed property on every device type that
has one. ``import_from_qemu`` builds it over QMP; the snapshot for QEMU 10.0
x86_64 ships in ``data/machines/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vmplatform.errors import DataFileError, UnknownNameError
from vmplatform.model import _jsontext, _toml
from vmplatform.model._toml import DATA_DIR
from vmplatform.model.fields import Document, Fields
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.records import field, record, replace

SCHEMA = "vmplatform/machine-catalog/1"


def normalize_value(value: object) -> str:
    """QEMU accepts many spellings of a bool; compare them as on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value)
    low = text.lower()
    if low in ("on", "true", "yes"):
        return "on"
    if low in ("off", "false", "no"):
        return "off"
    return text


@record
class CompatProp:
    qom_type: str
    prop: str
    value: str


@record
class MachineType:
    name: str
    compat_props: tuple[CompatProp, ...]
    alias: str | None = None
    is_default: bool = False
    deprecated: bool = False

    def to_json(self) -> JsonObject:
        """The machine type as ``machines list --json`` lists it."""
        return {"name": self.name, "alias": self.alias, "is-default": self.is_default,
                "compat-props": len(self.compat_props)}


@record
class MachineCatalog:
    qemu_version: str
    arch: str
    machines: Mapping[str, MachineType]
    parents: Mapping[str, str]                           # QOM type -> parent type
    device_defaults: Mapping[str, Mapping[str, str]]     # type -> governed prop -> default
    generated_by: str = ""
    path: str = ""
    options_with_arg: frozenset[str] = frozenset()
    option_flags: frozenset[str] = frozenset()
    # QEMU's -device aliases of this binary (virtio-net -> virtio-net-pci), from '-device help'
    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __iter__(self) -> Iterator[MachineType]:
        return iter(self.machines.values())

    def get(self, name: str) -> MachineType:
        if name in self.machines:
            return self.machines[name]
        real = self.machines.alias_of(name) if isinstance(self.machines, _LazyMachines) else next(
            (m.name for m in self.machines.values() if m.alias == name), None)
        if real is not None:
            return self.machines[real]
        raise UnknownNameError("machine", name, list(self.machines),
                               hint=f"machine types of QEMU {self.qemu_version}: 'vmplatform machines list'")

    def default_machine(self) -> MachineType | None:
        if isinstance(self.machines, _LazyMachines):
            name = self.machines.default_name()
            return None if name is None else self.machines[name]
        return next((m for m in self.machines.values() if m.is_default), None)

    def ancestry(self, qom_type: str) -> list[str]:
        """``qom_type`` followed by its parents, nearest first."""
        return _ancestry(qom_type, self.parents)

    def lineage(self, qom_type: str) -> set[str]:
        return lineage(qom_type, self.parents)

    def consults(self, driver: str, prop: str) -> bool:
        """Whether this QEMU has ``prop`` on some type that is, or inherits/proxies, ``driver``."""
        return any(prop in props and driver in self.lineage(t) for t, props in self.device_defaults.items())

    def backend_type(self, qom_type: str) -> str:
        return proxy_backend(qom_type, self.parents)

    def is_a(self, qom_type: str, ancestor: str) -> bool:
        return ancestor in self.ancestry(qom_type)

    def device_default(self, qom_type: str, prop: str) -> str | None:
        return self.device_defaults.get(qom_type, {}).get(prop)

    def has_device(self, qom_type: str) -> bool:
        """Whether this QEMU has the governed device type ``qom_type`` (the catalog holds the
        defaults of every concrete one; ``-device help`` lists the same types)."""
        return qom_type in self.device_defaults

    def knows(self, qom_type: str, prop: str) -> bool:
        """Whether this QEMU has ``prop`` on ``qom_type`` (never pin unknown properties)."""
        return prop in self.device_defaults.get(qom_type, {})


class _LazyMachines(Mapping[str, MachineType]):
    """Machine types built on first access: a snapshot has thousands of compat
    props and a command usually needs one machine type's. From a compiled
    catalog (:func:`compile_machine_catalogs`), each machine's compat props
    are even decoded on first access, from ``blobs``."""

    def __init__(self, raw: dict[str, Fields], blobs: Mapping[str, bytes] | None = None) -> None:
        self._raw = raw
        self._blobs = blobs
        self._built: dict[str, MachineType] = {}

    def __getitem__(self, name: str) -> MachineType:
        if name not in self._built:
            m = self._raw[name]
            if self._blobs is not None:
                m = Fields({**m.data, "compat-props": json.loads(self._blobs[name])}, m.doc, m.place)
            props = tuple(CompatProp(p.text("qom-type"), p.text("property"), normalize_value(p.text("value")))
                          for p in m.tables("compat-props"))
            self._built[name] = MachineType(name, props, m.optional(m.text, "alias"), bool(m.get("is-default")),
                                            bool(m.get("deprecated")))
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def alias_of(self, alias: str) -> str | None:
        for name, m in self._raw.items():
            if m.get("alias") == alias:
                return name
        return None

    def default_name(self) -> str | None:
        return next((name for name, m in self._raw.items() if m.get("is-default")), None)


_REGENERATE = "regenerate it with 'vmplatform machines import --qemu PATH --output FILE'"


def from_json_obj(obj: Mapping[str, Any], path: str) -> MachineCatalog:
    doc = Document(path, DataFileError, hint=_REGENERATE)
    f = Fields(obj, doc)
    if f.get("schema") != SCHEMA:
        raise f.error("schema", f"not a machine catalog (expected schema {SCHEMA!r})")
    raw = {m.text("name"): m for m in f.tables("machines")}
    defaults, options = f.table("device-defaults"), f.table("options")
    return MachineCatalog(
        qemu_version=f.text("qemu-version", ""), arch=f.text("arch", ""),
        machines=_LazyMachines(raw), parents=MappingProxyType(f.str_map("parents")),
        device_defaults=MappingProxyType({
            k: MappingProxyType({p: normalize_value(v) for p, v in defaults.table(k).data.items()})
            for k in defaults.keys()}),
        generated_by=f.text("generated-by", ""), path=path, raw=MappingProxyType(dict(obj)),
        options_with_arg=frozenset(options.strings("with-arg")), option_flags=frozenset(options.strings("flags")),
        aliases=MappingProxyType(f.str_map("aliases")))


def load_machine_catalog(path: Path) -> MachineCatalog:
    try:
        obj = _jsontext.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataFileError(str(path), "", f"cannot read: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise DataFileError(str(path), "", f"invalid JSON: {err.msg}", line=err.lineno) from err
    if not isinstance(obj, dict):
        raise DataFileError(str(path), "", "expected a JSON object")
    return from_json_obj(obj, str(path))


def packaged_catalogs() -> list[Path]:
    d = DATA_DIR / "machines"
    return sorted(d.glob("*.json"))


@cache
def default_machine_catalog() -> MachineCatalog:
    """The newest snapshot shipped in the package (from its compiled form while that matches it)."""
    paths = packaged_catalogs()
    if not paths:
        raise DataFileError("vmplatform/data/machines", "", "no machine catalog is installed",
                            hint="run 'vmplatform machines import --qemu PATH --output FILE'")
    return _compiled_machine_catalog(paths[-1]) or load_machine_catalog(paths[-1])


# -- packaged snapshots, compiled at install time ------------------------------------------------
# A snapshot is a large JSON file (hundreds of kB, nearly all of it compat props) and a command reads
# one or two machine types of it: decoding the whole file costs more than the rest of a libvirt hook
# call that resolves a domain. The build step writes each packaged snapshot as one line of JSON with
# everything but the compat props, each machine's compat props pointing into the JSON that follows
# that line, decoded on first access.

def _compiled_machines_path(path: Path) -> Path:
    return _toml.COMPILED_DIR / f"machines__{path.name}"


class _Source(Mapping[str, Any]):
    """``MachineCatalog.raw`` of a compiled catalog: the snapshot's JSON object, read when first used."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._obj: dict[str, Any] | None = None

    def _data(self) -> dict[str, Any]:
        if self._obj is None:
            obj = _jsontext.loads(self._path.read_text(encoding="utf-8"))
            self._obj = obj if isinstance(obj, dict) else {}
        return self._obj

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


def compile_machine_catalogs() -> list[Path]:
    """Write the compiled form of every packaged snapshot that reads without an error (build time)."""
    written = []
    for path in packaged_catalogs():
        catalog = load_machine_catalog(path)
        for name in catalog.machines:
            catalog.machines[name]              # every machine type builds: reading it compiled cannot fail
        obj = dict(catalog.raw)
        blobs, machines, offset = [], [], 0
        for m in obj["machines"]:
            blob = json.dumps(m["compat-props"], separators=(",", ":")).encode()
            machines.append({**m, "compat-props": [offset, len(blob)]})
            blobs.append(blob)
            offset += len(blob)
        head = {"sources": _toml.source_stamps([path]), "data": {**obj, "machines": machines}}
        written.append(_toml.write_atomically(_compiled_machines_path(path), json.dumps(
            head, separators=(",", ":")).encode() + b"\n" + b"".join(blobs)))
    return written


def _compiled_machine_catalog(path: Path) -> MachineCatalog | None:
    """The compiled form of the packaged snapshot ``path``, or None when absent or not made from it."""
    try:
        with open(_compiled_machines_path(path), "rb") as fh:
            text = fh.read()
        end = text.index(b"\n")
        head = json.loads(text[:end])
    except (OSError, ValueError):
        return None
    if not isinstance(head, dict) or head.get("sources") != _toml.source_stamps([path]):
        return None
    try:
        obj = head["data"]
        blobs = {}
        for m in obj["machines"]:
            start, length = m["compat-props"]
            blobs[m["name"]] = text[end + 1 + start:end + 1 + start + length]
        catalog = from_json_obj(obj, str(path))
    except (KeyError, TypeError, ValueError, DataFileError):
        return None   # written by another version of this code: read the snapshot
    assert isinstance(catalog.machines, _LazyMachines)
    return replace(catalog, machines=_LazyMachines(catalog.machines._raw, blobs), raw=_Source(path))


_PROXY_SUFFIXES = ("-pci-non-transitional", "-pci-transitional", "-pci", "-ccw")


def proxy_backend(qom_type: str, parents: Mapping[str, str]) -> str:
    """The virtio backend type behind a transport proxy (virtio-net-pci -> virtio-net-device).

    The proxy is not a subclass of its backend, but it forwards the backend's
    properties, and compat props name the backend type.
    """
    for suffix in _PROXY_SUFFIXES:
        if qom_type.endswith(suffix):
            base = qom_type[: -len(suffix)]
            for cand in (base + "-device", base):  # virtio-mem-pci proxies "virtio-mem" (no -device)
                if cand in parents:
                    return cand
    return qom_type


def _ancestry(t: str, parents: Mapping[str, str]) -> list[str]:
    out = [t]
    while out[-1] in parents and len(out) < 64:
        out.append(parents[out[-1]])
    return out


def lineage(qom_type: str, parents: Mapping[str, str]) -> set[str]:
    """Every type whose compat props and -global apply to ``qom_type``."""
    return set(_ancestry(qom_type, parents)) | set(_ancestry(proxy_backend(qom_type, parents), parents))


def governed_drivers(catalog_drivers: Sequence[str], parents: Mapping[str, str],
                     concrete: Sequence[str]) -> list[str]:
    """Concrete types that are, inherit from, or proxy a governed driver."""
    wanted = set(catalog_drivers)
    return sorted(t for t in concrete if wanted & lineage(t, parents))
