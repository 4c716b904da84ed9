"""Platforms: named sets of host features guaranteed present.

Definitions are data files (``data/platforms/*.toml`` in the package, plus
extra directories). Upstream platforms are derived, one per ``[[release]]``
table, from the catalog (rule: :mod:`vmplatform.model.releases`); distro platforms
are ``[[platform]]`` tables that may inherit another platform and add or
remove features. :class:`PlatformSet` resolves inheritance and validates the
whole set on load.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from vmplatform.errors import DataFileError, UnknownNameError
from vmplatform.model import _toml
from vmplatform.model._toml import DATA_DIR
from vmplatform.model.features import Catalog, Category, HostFeature, default_catalog, load_catalog
from vmplatform.model.fields import Fields
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.records import field, record

# The upstream releases are derived from the catalog when the platforms are compiled (build time) or
# read from sources other than the package; reading the compiled set needs none of it.
if TYPE_CHECKING:
    from vmplatform.model.releases import Release

#: libvirt's machine-name charset.
PLATFORM_NAME = re.compile(r"^[a-zA-Z0-9_.-]+$")
#: Searched after the package's own definitions and any --platform-dir.
SYSTEM_DIR = Path("/etc/vmplatform/platforms.d")
PATH_ENV = "VMPLATFORM_PATH"


@record
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
    derived: bool = False             # an upstream release, derived from the catalog

    def describe_provider(self) -> str:
        return f"platform {self.name} ({self.description})"

    def to_json(self) -> JsonObject:
        """The platform as a JSON-ready object (``platforms show --json``)."""
        obj: JsonObject = {
            "name": self.name, "description": self.description, "vendor": self.vendor,
            "released": self.released.isoformat(), "kernel": self.kernel,
        }
        if self.inherits:
            obj["inherits"] = self.inherits
        obj["features"] = [*sorted(self.features)]
        if self.add:
            obj["add"] = [*self.add]
        if self.remove:
            obj["remove"] = [*self.remove]
        if self.feature_sources:
            obj["feature-sources"] = {**self.feature_sources}
        if self.left_out:
            obj["left-out"] = {**self.left_out}
        if self.source:
            obj["source"] = self.source
        if self.origin:
            obj["defined-in"] = self.origin
        return obj


class UnknownReleaseError(UnknownNameError):
    """An upstream release name outside the releases this vmplatform knows."""

    def __init__(self, name: str, why: str, hint: str) -> None:
        super().__init__("platform", name, [], hint)
        self.message = f"unknown platform '{name}': {why}"
        self.args = (self.message,)


@record
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
    table: Fields
    derived: bool = False


def _parse(t: Fields, catalog: Catalog) -> _Raw:
    t.check_keys({"name", "description", "vendor", "released", "kernel", "inherits", "add",
                  "remove", "feature-sources", "left-out", "source", "notes"})
    name = t.text("name")
    if not PLATFORM_NAME.match(name):
        raise t.error("name", f"platform name '{name}' has characters outside [a-zA-Z0-9_.-]", name)
    add, remove = t.strings("add"), t.strings("remove")
    sources, left_out = t.str_map("feature-sources"), t.str_map("left-out")
    for key, ids in (("add", add), ("remove", remove), ("feature-sources", tuple(sources)),
                     ("left-out", tuple(left_out))):
        for fid in ids:
            if fid not in catalog:
                raise t.error(key, f"unknown feature '{fid}' (the catalog has: {', '.join(catalog.ids())})",
                              fid)
    vendor = t.text("vendor", "upstream")
    for fid in add if vendor != "merge" else ():  # a merge records what hosts have in common, as is
        if not catalog.decides_properties(fid):
            raise t.error("add", f"feature '{fid}' decides no QEMU property, so a platform cannot guarantee it "
                                 "(list it under [platform.left-out] with why)", fid)
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
    inherits = t.optional(t.text, "inherits")
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
            pass
        from vmplatform.model.releases import kernel_version

        hint = "list them with 'vmplatform platforms list' or 'vmplatform qemu -platform help'"
        upstream = self.upstream()
        wanted = kernel_version(name[len("linux-"):]) if name.startswith("linux-") else ()
        if upstream and len(wanted) >= 2 and ".".join(map(str, wanted)) == name[len("linux-"):]:
            newest, oldest = upstream[-1], upstream[0]
            if wanted > kernel_version(newest.kernel):
                raise UnknownReleaseError(
                    name, f"newer than the newest release this vmplatform knows ({newest.name})",
                    f"use {newest.name} (it guarantees every feature the catalog knows up to its release), "
                    "or update vmplatform")
            if wanted < kernel_version(oldest.kernel):
                raise UnknownReleaseError(
                    name, f"older than the oldest release with a platform ({oldest.name}, the first with the "
                    "TAP virtio-net header)", f"use {oldest.name} or a newer release")
            hint = f"upstream platforms are the releases {oldest.name} ... {newest.name}, e.g. linux-6.18"
        raise UnknownNameError("platform", name, list(self._platforms), hint=hint)

    def upstream(self) -> list[Platform]:
        """The upstream release platforms, oldest first."""
        from vmplatform.model.releases import kernel_version

        return sorted((p for p in self._platforms.values() if p.derived),
                      key=lambda p: kernel_version(p.kernel))

    def same_as(self, platform: Platform) -> Platform:
        """The oldest upstream release with exactly ``platform``'s guarantees (itself if not upstream)."""
        if not platform.derived:
            return platform
        cur = platform
        while cur.inherits is not None:
            prev = self._platforms[cur.inherits]
            if not prev.derived or prev.features != platform.features:
                break
            cur = prev
        return cur

    def ordered(self) -> list[Platform]:
        """Oldest first: by release date, then name."""
        return sorted(self._platforms.values(), key=lambda p: (p.released, p.name))

    def with_platform(self, platform: Platform) -> PlatformSet:
        """A copy that also knows ``platform`` (e.g. a merged one from a file)."""
        if platform.name in self._platforms and self._platforms[platform.name] != platform:
            raise DataFileError(platform.origin, f"platform '{platform.name}'",
                                "a different platform with this name is already defined")
        return PlatformSet({**self._platforms, platform.name: platform}, self.catalog)

    def provided_by(self, feature: HostFeature) -> str:
        """What provides ``feature``: the kernel release and the first upstream platform with it."""
        first = self.first_providing(feature.id)
        parts = []
        if feature.linux:
            parts.append(f"Linux >= {feature.linux}")
        if first is not None:
            parts.append(f"platform {first.name}")
        if not parts:
            return "a host where it is enabled (it is not tied to a kernel release)"
        return " / ".join(parts)

    def first_providing(self, feature: str, vendor: str = "upstream") -> Platform | None:
        """The oldest platform of ``vendor`` that guarantees ``feature``."""
        for p in self.ordered():
            if p.vendor == vendor and feature in p.features:
                return p
        return None


def _parse_release(t: Fields) -> Release:
    from vmplatform.model.releases import Release, kernel_version, release_of

    t.check_keys({"version", "released", "source", "lts", "notes"})
    version = t.text("version")
    key = kernel_version(version)
    if len(key) < 2 or ".".join(map(str, key)) != version or release_of(key) != key:
        raise t.error("version", f"'{version}' is not an upstream release number (e.g. \"6.18\", \"2.6.27\")",
                      version)
    lts = t.flag("lts", False)
    return Release(version, t.date("released"), t.text("source"), lts, t.text("notes", ""))


def _derive_upstream(releases: Sequence[tuple[Release, Fields]], catalog: Catalog) -> dict[str, _Raw]:
    """One raw platform per release, each inheriting the previous one (rule: vmplatform.model.releases)."""
    from vmplatform.model.releases import upstream_features, why_in_upstream

    out: dict[str, _Raw] = {}
    prev: tuple[str, frozenset[str]] | None = None
    head = ""  # oldest release of the current run of identical guarantees
    for rel, table in sorted(releases, key=lambda rt: rt[0].key):
        feats = upstream_features(catalog, rel.key)
        base = prev[1] if prev else frozenset()
        add, remove = sorted(feats - base), sorted(base - feats)
        label = f"Upstream Linux {rel.version}" + (" (LTS)" if rel.lts else "")
        changes = ([f"adds {', '.join(add)}"] if add else []) + ([f"drops {', '.join(remove)}"] if remove else [])
        if prev is None:
            description = f"{label}: " + ", ".join(sorted(feats))
            head = rel.platform_name
        elif changes:
            description = f"{label}: " + "; ".join(changes)
            head = rel.platform_name
        else:
            description = f"{label}: same guarantees as {head}"
        sources = {f: why_in_upstream(catalog.get(f), rel.key) for f in add}
        out[rel.platform_name] = _Raw(
            rel.platform_name, description, "upstream", rel.released, rel.version,
            prev[0] if prev else None, tuple(add), tuple(remove), sources, {}, rel.source, table,
            derived=True)
        prev = (rel.platform_name, feats)
    return out


def load_platforms(extra_dirs: Sequence[Path] = (), *, catalog: Catalog | None = None,
                   env: Mapping[str, str] | None = None,
                   system: Path | None = SYSTEM_DIR, packaged: bool = True) -> PlatformSet:
    """Load every definition on the search path, derive the upstream releases, resolve inheritance.

    The packaged definitions alone, with the packaged catalog, come from their build-time compilation
    (:func:`compile_platforms`) while it matches the sources."""
    if catalog is None or catalog is default_catalog():
        catalog = default_catalog()
        if packaged and not extra_dirs and not _has_definitions(search_path(env=env, system=system, packaged=False)):
            compiled = _compiled_platforms(catalog)
            if compiled is not None:
                return compiled
    raws: dict[str, _Raw] = {}
    releases: dict[str, tuple[Release, Fields]] = {}
    for d in extra_dirs:
        if not d.exists():
            raise DataFileError(str(d), "", "platform directory does not exist",
                                hint="check the --platform-dir argument")
    for path in _files(search_path(extra_dirs, env=env, system=system, packaged=packaged)):
        root = _toml.load(path)
        root.check_keys({"platform", "release"})
        for t in root.tables("release"):
            rel = _parse_release(t)
            if rel.version in releases:
                prev = releases[rel.version][1].source
                raise t.error("version", f"release {rel.version} is already listed in {prev}", rel.version)
            releases[rel.version] = (rel, t)
        for t in root.tables("platform"):
            raw = _parse(t, catalog)
            if raw.name in raws:
                prev = raws[raw.name].table.source
                raise t.error("name", f"platform '{raw.name}' is already defined in {prev}", raw.name)
            raws[raw.name] = raw
    for name, raw in _derive_upstream(list(releases.values()), catalog).items():
        if name in raws:
            raise raws[name].table.error("name", f"platform '{name}' is an upstream release, derived from the "
                                                 "catalog: it cannot be defined by hand", name)
        raws[name] = raw
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
                          raw.table, p.derived) for p in base}
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
        for fid in raw.left_out:
            if fid in features:
                raise raw.table.error("left-out", f"'{fid}' is listed as left out but the platform guarantees it "
                                                  "(inherited); add it to 'remove' to leave it out", fid)
        plat = Platform(
            name=raw.name, description=raw.description, vendor=raw.vendor, released=raw.released,
            kernel=raw.kernel, features=frozenset(features), inherits=raw.inherits, add=raw.add,
            remove=raw.remove, feature_sources=MappingProxyType(dict(raw.feature_sources)),
            left_out=MappingProxyType(dict(raw.left_out)), source=raw.source, origin=raw.table.source,
            derived=raw.derived)
        done[name] = plat
        return plat

    for name in raws:
        resolve(name, ())
    return done


# -- the packaged platforms, derived and resolved at build time ---------------------------------
# ``python -m vmplatform.model._toml`` (scripts/setup-host, scripts/test) writes them; a start-up then reads
# one JSON file instead of deriving ~100 upstream releases from the catalog and resolving every
# inheritance chain. tests/model/test_compiled_data.py holds it to the sources.
COMPILED_PLATFORMS = _toml.COMPILED_DIR / "platforms.json"


def _has_definitions(dirs: Iterable[Path]) -> bool:
    for d in dirs:
        try:
            if os.path.isfile(d) or any(n.endswith(".toml") for n in os.listdir(d)):
                return True
        except OSError:
            continue  # absent: nothing defined there
    return False


def _packaged_sources() -> list[Path]:
    """The files the packaged platform set is made from: the catalog and every packaged definition."""
    pdir = DATA_DIR / "platforms"
    try:
        names = sorted(n for n in os.listdir(pdir) if n.endswith(".toml"))
    except OSError:
        names = []
    return [DATA_DIR / "features.toml", *(pdir / n for n in names)]


def _platform_json(p: Platform) -> dict[str, object]:
    return {"name": p.name, "description": p.description, "vendor": p.vendor, "released": p.released.isoformat(),
            "kernel": p.kernel, "features": sorted(p.features), "inherits": p.inherits, "add": list(p.add),
            "remove": list(p.remove), "feature-sources": dict(p.feature_sources), "left-out": dict(p.left_out),
            "source": p.source, "origin": os.path.relpath(p.origin, DATA_DIR), "derived": p.derived}


_DATA_DIR = str(DATA_DIR)   # joined with each compiled platform's origin: os.path, not a Path per platform


def _platform_from(o: dict[str, Any]) -> Platform:
    return Platform(
        name=o["name"], description=o["description"], vendor=o["vendor"],
        released=datetime.date.fromisoformat(o["released"]), kernel=o["kernel"], features=frozenset(o["features"]),
        inherits=o["inherits"], add=tuple(o["add"]), remove=tuple(o["remove"]),
        feature_sources=MappingProxyType(o["feature-sources"]), left_out=MappingProxyType(o["left-out"]),
        source=o["source"], origin=os.path.join(_DATA_DIR, o["origin"]), derived=o["derived"])


def compile_platforms() -> Path:
    """Load the packaged platforms from their sources and write their compiled form (build time)."""
    catalog = load_catalog()
    platforms = load_platforms(catalog=catalog, env={}, system=None)
    return _toml.write_compiled(COMPILED_PLATFORMS, _toml.source_stamps(_packaged_sources()),
                                {"platforms": [_platform_json(p) for p in platforms._platforms.values()]})


def _compiled_platforms(catalog: Catalog) -> PlatformSet | None:
    """The compiled packaged platform set, or None when absent or not made from the current sources."""
    data = _toml.read_compiled(COMPILED_PLATFORMS, _packaged_sources())
    if data is None:
        return None
    try:
        platforms = {p.name: p for p in map(_platform_from, data["platforms"])}
    except (KeyError, TypeError, ValueError):
        return None  # written by another version of this code: read the sources
    return PlatformSet(platforms, catalog)
