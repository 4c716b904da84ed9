"""OpenStack Placement custom traits: one per supported platform and per supported feature.

Placement's custom traits match ``^CUSTOM_[A-Z0-9_]+$`` and are at most 255
characters (placement/schemas/trait.py; os-traits ``is_custom``). The name is
made the way os-traits' ``normalize_name`` makes one (every run of characters
other than ``[A-Za-z0-9]`` becomes ``_``, then upper case), which is lossy:
``linux-6.2`` and ``linux_6.2`` would share a trait. So the names are made
for the whole set at once, every name that would collide gets a hash suffix,
and the reverse map (trait -> platform or feature) is kept and written out.

Traits of a host (``T`` = ``CUSTOM_VMPLATFORM``)::

    T_PLATFORM_LINUX_6_2         the host supports platform linux-6.2
    T_FEATURE_TAP_USO            the probe found tap-uso supported

A VM's manifest asks for the feature traits of what it requires
(:func:`required_traits`): exactly the hosts on which ``check`` says it can
run carry all of them.

The Nova side is a provider config file (nova/compute/provider_config.py,
schema 1.0): ``providers: [{identification: {name|uuid}, traits:
{additional: [...]}}]``, read by nova-compute from
``[compute] provider_config_location`` (default /etc/nova/provider_config/).
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from vmplatform.errors import VmplatformError
from vmplatform.fleet.export_view import FleetView
from vmplatform.model.platforms import PlatformSet
from vmplatform.resolution.manifest import Manifest

NAMESPACE = "CUSTOM_VMPLATFORM"
TRAIT_MAX = 255
TRAIT_RE = re.compile(r"^CUSTOM_[A-Z0-9_]+$")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]+")
#: Nova provider config schema version this module writes (nova SUPPORTED_SCHEMA_VERSIONS: {1: {0}}).
NOVA_SCHEMA_VERSION = "1.0"
#: Nova's sentinel: "the compute node this nova-compute manages".
COMPUTE_NODE = "$COMPUTE_NODE"


class TraitError(VmplatformError):
    """A trait cannot be made or is unknown."""


class Kind(enum.Enum):
    PLATFORM = "platform"
    FEATURE = "feature"


@dataclass(frozen=True)
class TraitMap:
    """Trait names both ways, made for one platform set and catalog."""

    traits: Mapping[tuple[Kind, str], str]      # (kind, name) -> trait
    meaning: Mapping[str, tuple[Kind, str]]     # trait -> (kind, name): the reverse map

    def platform(self, name: str) -> str:
        return self.traits[(Kind.PLATFORM, name)]

    def feature(self, fid: str) -> str:
        try:
            return self.traits[(Kind.FEATURE, fid)]
        except KeyError:
            raise TraitError(f"feature {fid} is not in the catalog, so no host carries a trait for it",
                             "analyse the VM with this vmplatform's catalog ('vmplatform features')") from None

    def reverse_json(self) -> dict[str, str]:
        return {t: f"{k.value} {n}" for t, (k, n) in sorted(self.meaning.items())}


def _normalise(kind: Kind, name: str) -> str:
    return f"{NAMESPACE}_{kind.value.upper()}_" + _NON_ALNUM.sub("_", name).upper()


def _suffixed(base: str, name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()[:8].upper()
    return f"{base[: TRAIT_MAX - 9].rstrip('_')}_{digest}"


def trait_map(platforms: PlatformSet) -> TraitMap:
    """Traits for every platform and catalog feature; collisions get a hash suffix, never merged."""
    items = [(Kind.PLATFORM, p.name) for p in platforms] + [(Kind.FEATURE, f.id) for f in platforms.catalog]
    by_base: dict[str, list[tuple[Kind, str]]] = {}
    for kind, name in items:
        by_base.setdefault(_normalise(kind, name), []).append((kind, name))
    traits: dict[tuple[Kind, str], str] = {}
    for base, owners in by_base.items():
        for kind, name in owners:
            traits[(kind, name)] = base if len(owners) == 1 and len(base) <= TRAIT_MAX else _suffixed(base, name)
    meaning = {t: k for k, t in traits.items()}
    if len(meaning) != len(traits):
        raise TraitError("two platform or feature names hash to the same trait",
                         "rename one of the platform definitions")
    for t in meaning:
        if not TRAIT_RE.match(t) or len(t) > TRAIT_MAX:
            raise TraitError(f"trait {t} would not be a valid Placement custom trait", "report this as a bug")
    return TraitMap(MappingProxyType(traits), MappingProxyType(meaning))


def host_traits(view: FleetView, tmap: TraitMap) -> dict[str, frozenset[str]]:
    """host -> its traits: supported platforms and supported features."""
    per_class = [frozenset({tmap.platform(p) for p in fc.supported_platforms}
                           | {tmap.feature(f) for f in fc.supported_features if (Kind.FEATURE, f) in tmap.traits})
                 for fc in view.classes]
    return {host: per_class[idx] for host, idx in sorted(view.class_index.items())}


def required_traits(manifest: Manifest, tmap: TraitMap) -> list[str]:
    """The traits a host must carry to run the VM of ``manifest`` (its required features)."""
    return sorted(tmap.feature(f) for f in manifest.requires)


def nova_provider_config(traits: Mapping[str, Iterable[str]], tmap: TraitMap,
                         compute_node: bool = False) -> dict[str, Any]:
    """A Nova provider config document (schema 1.0) giving each host its traits.

    With ``compute_node`` (one host only) the provider is identified by
    Nova's ``$COMPUTE_NODE`` sentinel, for a file installed on that host;
    otherwise by name (the hypervisor host name, which is the name of its
    compute node resource provider). The reverse map travels in ``meta``
    (the schema allows extra keys there).
    """
    if compute_node and len(traits) != 1:
        raise TraitError(f"--compute-node writes the file of one host, {len(traits)} were given",
                         "pass --host NAME, or leave out --compute-node to identify hosts by name")
    used = sorted({t for ts in traits.values() for t in ts})
    providers = []
    for host, ts in sorted(traits.items()):
        ident = {"uuid": COMPUTE_NODE} if compute_node else {"name": host}
        if not compute_node and not 1 <= len(host) <= 200:
            raise TraitError(f"host name {host!r} cannot identify a Nova resource provider (1 to 200 characters)",
                             "rename the host in the inventory")
        providers.append({"identification": ident, "traits": {"additional": sorted(ts)}})
    return {
        "meta": {"schema_version": NOVA_SCHEMA_VERSION,
                 "vmplatform_traits": {t: f"{k.value} {n}" for t in used for k, n in [tmap.meaning[t]]}},
        "providers": providers,
    }


def nova_provider_yaml(doc: Mapping[str, Any]) -> str:
    import yaml

    # libyaml's emitter when PyYAML has it (the pure-Python one takes ~2.5 ms per provider); same output.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(yaml.dump(dict(doc), Dumper=dumper, sort_keys=False, default_flow_style=False))
