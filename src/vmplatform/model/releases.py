"""Upstream Linux releases, and what each one guarantees.

Every upstream release listed in a ``[[release]]`` table (the packaged list is
``data/platforms/upstream.toml``) is a platform named ``linux-VERSION``. Its
guarantees are not written by hand; :func:`upstream_features` derives them
from the catalog:

    an upstream platform guarantees what an x86_64 kernel of that release has
    when built with its Kconfig defaults, i.e. every catalog feature that

    * decides a QEMU property (:meth:`Catalog.decides_properties`),
    * is of category ``kernel`` (every build of the release that has the
      subsystem has it), or is ``optional`` with an ``upstream-default`` fact
      (its Kconfig option defaults to y, e.g. CONFIG_KVM_SMM),
    * was introduced (``linux``) in that release or earlier, or is tied to no
      release at all (``linux = ""``, e.g. 4 KiB pages on x86_64),
    * and is not in one of its ``gap`` ranges (removed, later restored).

A feature that needs an optional device (vhost-net, vhost-vsock, KVM) is
guaranteed in the sense "a host of this release that has the device has it".
"""

from __future__ import annotations

import datetime

from vmplatform.model.features import Catalog, Category, HostFeature
from vmplatform.records import record

Version = tuple[int, ...]


def kernel_version(text: str) -> Version:
    """``"6.18.44-fc-v669"`` -> (6, 18, 44); ``"2.6.27"`` -> (2, 6, 27); unparseable -> ()."""
    parts = []
    for piece in text.split("-")[0].split("."):
        digits = ""
        for ch in piece:
            if not "0" <= ch <= "9":  # str.isdigit() also takes '¹', which int() refuses
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def release_of(version: Version) -> Version:
    """The release a kernel version belongs to: 6.18.44 -> 6.18, 2.6.27.1 -> 2.6.27."""
    return version[:3] if version[:2] == (2, 6) else version[:2]


@record
class Release:
    """One upstream Linux release: ``version`` as written (``"6.18"``) and its release date."""

    version: str
    released: datetime.date
    source: str
    lts: bool = False
    notes: str = ""

    @property
    def key(self) -> Version:
        return kernel_version(self.version)

    @property
    def platform_name(self) -> str:
        return f"linux-{self.version}"


def introduced_by(feature: HostFeature, release: Version) -> bool:
    """Whether upstream ``release`` has ``feature`` by its history alone: introduced, and not in a gap."""
    if feature.linux and kernel_version(feature.linux) > release:
        return False
    return not any(kernel_version(g.since) <= release < kernel_version(g.until) for g in feature.gaps)


def in_upstream(feature: HostFeature, release: Version, catalog: Catalog) -> bool:
    """Whether an x86_64 build of ``release`` with Kconfig defaults has ``feature`` (module docstring)."""
    if feature.category is Category.OPTIONAL and not feature.upstream_default:
        return False
    if not catalog.decides_properties(feature.id):
        return False
    return introduced_by(feature, release)


def upstream_features(catalog: Catalog, release: Version) -> frozenset[str]:
    """The features the upstream platform of ``release`` guarantees."""
    return frozenset(f.id for f in catalog if in_upstream(f, release, catalog))


def why_in_upstream(feature: HostFeature, release: Version) -> str:
    """The fact that puts ``feature`` into the upstream platform of ``release``."""
    for g in feature.gaps:
        if kernel_version(g.until) == release:
            return f"restored in {g.until}: {g.source}"
    if feature.upstream_default:
        return f"Linux {feature.linux} with its Kconfig defaults: {feature.upstream_default}"
    if feature.linux:
        return f"Linux {feature.linux}: {feature.linux_source}"
    return feature.linux_source
