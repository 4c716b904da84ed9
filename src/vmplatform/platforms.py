"""Platforms: named sets of host features guaranteed present.

Definitions are data files (``data/platforms/*.toml`` in the package, plus
extra directories). A platform may inherit another and add or remove
features; :class:`PlatformSet` resolves inheritance and validates the whole
set on load.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from . import _toml
from ._toml import DATA_DIR
from .errors import DataFileError, UnknownNameError
from .features import Catalog, Category, default_catalog

#: libvirt's machine-name charset.
PLATFORM_NAME = re.compile(r"^[a-zA-Z0-9_.-]+$")
#: Searched after the package's own definitions and any --platform-dir.
SYSTEM_DIR = Path("/etc/vmplatform/platforms.d")
PATH_ENV = "VMPLATFORM_PATH"


@dataclass(frozen=True)
class Platform:
    """A platform definition with its inheritance already resolved."""

    name: str
    description: str
    vendor: str
    released: datetime.date
    kernel: str
    features: frozenset[str]          # the full guaranteed set, after inheritance
    inherits: str | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    feature_sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    left_out: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    source: str = ""
    origin: str = ""                  # file it was defined in
    synthetic: bool = False           # made by 'vmplatform merge', not shipped

    def describe_provider(self) -> str:
        return f"platform {self.name} ({self.description})"


@dataclass(frozen=True)
class _Raw:
    name: str
    description: str
    vendor: str
    released: datetime.date
    kernel: str
    inherits: str | None
    add: tuple[str, ...]
    remove: tuple[str, ...]
    feature_sources: dict[str, str]
    left_out: dict[str, str]
    source: str
    table: _toml.Table


def _parse(t: _toml.Table, catalog: Catalog) -> _Raw:
    t.check_keys({"name", "description", "vendor", "released", "kernel", "inherits", "add",
                  "remove", "feature-sources", "left-out", "source", "notes"})
    name = t.text("name")
    if not PLATFORM_NAME.match(name):
        raise t.error("name", f"platform name '{name}' has characters outside [a-zA-Z0-9_.-]", name)
    add, remove = t.str_list("add"), t.str_list("remove")
    sources, left_out = t.str_map("feature-sources"), t.str_map("left-out")
    for key, ids in (("add", add), ("remove", remove), ("feature-sources", tuple(sources)),
                     ("left-out", tuple(left_out))):
        for fid in ids:
            if fid not in catalog:
                raise t.error(key, f"unknown feature '{fid}' (the catalog has: {', '.join(catalog.ids())})",
                              fid)
    both = set(add) & set(remove)
    if both:
        fid = sorted(both)[0]
        raise t.error("remove", f"feature '{fid}' is both added and removed", fid)
    vendor = t.text("vendor", "upstream")
    if vendor != "upstream":
        for fid in add:
            if fid not in sources:
                raise t.error("add", f"distro platform adds '{fid}' without a source in [feature-sources] "
                                     "(a platform may under-promise, never over-promise)", fid)
    inherits = t.data.get("inherits")
    if inherits is not None and not isinstance(inherits, str):
        raise t.error("inherits", "'inherits' must be a platform name")
    return _Raw(name, t.text("description"), vendor, t.date("released"), t.text("kernel", ""),
                inherits, add, remove, sources, left_out, t.text("source", ""), t)


def _files(dirs: Iterable[Path]) -> Iterator[Path]:
    for d in dirs:
        if d.is_file():
            yield d
        elif d.is_dir():
            yield from sorted(d.glob("*.toml"))


def search_path(extra: Sequence[Path] = (), *, env: Mapping[str, str] | None = None,
                system: Path | None = SYSTEM_DIR, packaged: bool = True) -> list[Path]:
    """Where platform definitions come from, in order: package, extra dirs, env, system."""
    env = os.environ if env is None else env
    dirs = [DATA_DIR / "platforms"] if packaged else []
    dirs += list(extra)
    dirs += [Path(p) for p in env.get(PATH_ENV, "").split(":") if p]
    if system is not None:
        dirs.append(system)
    return dirs


class PlatformSet:
    """All known platforms, inheritance resolved and validated."""

    def __init__(self, platforms: Mapping[str, Platform], catalog: Catalog) -> None:
        self._platforms = dict(platforms)
        self.catalog = catalog

    def __iter__(self) -> Iterator[Platform]:
        return iter(self.ordered())

    def __len__(self) -> int:
        return len(self._platforms)

    def __contains__(self, name: object) -> bool:
        return name in self._platforms

    def names(self) -> list[str]:
        return [p.name for p in self.ordered()]

    def get(self, name: str) -> Platform:
        try:
            return self._platforms[name]
        except KeyError:
            raise UnknownNameError("platform", name, list(self._platforms),
                                   hint="list them with 'vmplatform platforms list' or "
                                        "'vmplatform qemu -platform help'") from None

    def ordered(self) -> list[Platform]:
        """Oldest first: by release date, then name."""
        return sorted(self._platforms.values(), key=lambda p: (p.released, p.name))

    def with_platform(self, platform: Platform) -> "PlatformSet":
        """A copy that also knows ``platform`` (e.g. a merged one from a file)."""
        if platform.name in self._platforms and self._platforms[platform.name] != platform:
            raise DataFileError(platform.origin, f"platform '{platform.name}'",
                                "a different platform with this name is already defined")
        return PlatformSet({**self._platforms, platform.name: platform}, self.catalog)

    def first_providing(self, feature: str, vendor: str = "upstream") -> Platform | None:
        """The oldest platform of ``vendor`` that guarantees ``feature``."""
        for p in self.ordered():
            if p.vendor == vendor and feature in p.features:
                return p
        return None


def load_platforms(extra_dirs: Sequence[Path] = (), *, catalog: Catalog | None = None,
                   env: Mapping[str, str] | None = None,
                   system: Path | None = SYSTEM_DIR, packaged: bool = True) -> PlatformSet:
    """Load every definition on the search path and resolve inheritance."""
    catalog = catalog or default_catalog()
    raws: dict[str, _Raw] = {}
    for d in extra_dirs:
        if not d.exists():
            raise DataFileError(str(d), "", "platform directory does not exist",
                                hint="check the --platform-dir argument")
    for path in _files(search_path(extra_dirs, env=env, system=system, packaged=packaged)):
        root = _toml.load(path)
        root.check_keys({"platform"})
        for t in root.tables("platform"):
            raw = _parse(t, catalog)
            if raw.name in raws:
                prev = raws[raw.name].table.path
                raise t.error("name", f"platform '{raw.name}' is already defined in {prev}", raw.name)
            raws[raw.name] = raw
    return PlatformSet(_resolve_all(raws, catalog), catalog)


def load_platform_file(path: Path, base: PlatformSet) -> Platform:
    """Load a single-platform file (e.g. from 'vmplatform merge') against ``base``."""
    root = _toml.load(path)
    root.check_keys({"platform"})
    tables = list(root.tables("platform"))
    if len(tables) != 1:
        raise DataFileError(str(path), "platform", f"expected exactly one [[platform]], found {len(tables)}")
    raw = _parse(tables[0], base.catalog)
    known = {p.name: _Raw(p.name, p.description, p.vendor, p.released, p.kernel, p.inherits,
                          p.add, p.remove, dict(p.feature_sources), dict(p.left_out), p.source,
                          raw.table) for p in base}
    if raw.name in known:
        return base.get(raw.name)
    known[raw.name] = raw
    return _resolve_all(known, base.catalog)[raw.name]


def platform_from_spec(spec: str, platforms: PlatformSet) -> tuple[Platform, PlatformSet]:
    """A platform given by name or by definition file (a path, or *.toml), and a set that knows it."""
    if spec.endswith(".toml") or "/" in spec:
        plat = load_platform_file(Path(spec), platforms)
        return plat, platforms.with_platform(plat)
    return platforms.get(spec), platforms


def _resolve_all(raws: Mapping[str, _Raw], catalog: Catalog) -> dict[str, Platform]:
    done: dict[str, Platform] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> Platform:
        if name in done:
            return done[name]
        raw = raws[name]
        if name in chain:
            cycle = " -> ".join(chain[chain.index(name):] + (name,))
            raise raw.table.error("inherits", f"inheritance cycle: {cycle}", raw.inherits)
        features: set[str] = set()
        if raw.inherits is not None:
            if raw.inherits not in raws:
                raise raw.table.error("inherits", f"inherits unknown platform '{raw.inherits}'", raw.inherits)
            features = set(resolve(raw.inherits, chain + (name,)).features)
        for fid in raw.remove:
            if fid not in features:
                raise raw.table.error("remove", f"removes '{fid}', which '{raw.inherits}' does not have", fid)
        features = (features - set(raw.remove)) | set(raw.add)
        for fid in sorted(features):
            feat = catalog.get(fid)
            for req in feat.requires:
                if req not in features and catalog.get(req).category is not Category.OPTIONAL:
                    raise raw.table.error(
                        "add", f"'{fid}' requires '{req}', which the platform does not guarantee", fid)
        plat = Platform(
            name=raw.name, description=raw.description, vendor=raw.vendor, released=raw.released,
            kernel=raw.kernel, features=frozenset(features), inherits=raw.inherits, add=raw.add,
            remove=raw.remove, feature_sources=MappingProxyType(dict(raw.feature_sources)),
            left_out=MappingProxyType(dict(raw.left_out)), source=raw.source, origin=raw.table.path)
        done[name] = plat
        return plat

    for name in raws:
        resolve(name, ())
    return done
