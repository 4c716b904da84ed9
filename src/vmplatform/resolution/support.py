"""Which platforms a host supports, and which one is its default.

Support is judged for one accelerator (:class:`~vmplatform.model.features.Accel`):
a KVM-only feature (``applies-to = "kvm"``) does not count for a TCG VM. When
no accelerator is given, it is KVM if the host report shows a usable
/dev/kvm, else TCG (:func:`host_accel`).

For each feature a platform guarantees, the host either has it, or lacks it
in one of two ways (:class:`Lack`):

* ``needs-device``: the feature can only be used through an *optional*
  device or capability the host does not have (e.g. ``vhost-vsock-seqpacket``
  while vhost-vsock is not loaded or not built, or ``kvm-smm`` itself). No VM
  on this host can use it, so the platform is still *usable for VMs without
  that device*; it is just not fully *guaranteed*;
* ``missing``: the host lacks (or cannot show it has) a feature VMs rely on.

A platform is *guaranteed* on a host when nothing is lacking, and
``supported`` (usable) when nothing is missing: then every VM that does not
use the absent devices can run on it here.

**The default platform** ("latest") of a host is chosen by this rule, the
only place it is written down:

1. candidates are the platforms supported (usable) on this host for the accelerator:
   a lack of an optional device does not disqualify a platform, so loading
   or unloading a module (vhost_vsock, vhost_net, kvm_*) never changes the
   candidates;
2. of those, only platforms whose ``kernel`` is not newer than the running
   kernel's release (a 6.18 host never defaults to ``linux-7.1``, a 5.10 host
   never to ``linux-5.14``); when the running kernel's release cannot be read
   (empty, or ``0.x`` as simulated hosts report) this step is skipped;
3. of those, only upstream ones and the ones of this host's own
   distribution (``vendor`` equals os-release ``ID``; ``ID_LIKE`` is used only
   when no platform has the ``ID``); if that leaves nothing, all of step 2;
4. keep the *maximal* candidates: those whose feature set is not a strict
   subset of another candidate's;
5. prefer the newest kernel release (a 6.18 host gets ``linux-6.18``, its own
   generation, rather than ``linux-6.17`` with the same guarantees, or a
   6.12-based distro platform);
6. then the platform of this host's own distro release (:func:`vendor_release`
   is exactly the release in its name: ``linux-ubuntu-24.04`` on Ubuntu 24.04
   rather than ``linux-ubuntu-22.04-hwe``, which has the same kernel; a Linux
   Mint 22 host, based on Ubuntu 24.04 "noble", is on Ubuntu release 24.04,
   not on "22");
7. then the newest ``released`` date; a tie is broken by name (lexically last).

Why this is stable: a platform that step 1 admits only because an optional
device is absent guarantees features of its own release or older (step 2),
which the running kernel has as soon as the device appears. So the same host
gives the same default before and after an optional module loads.
"""

from __future__ import annotations

import enum
import errno as errno_mod
from collections.abc import Iterator

from vmplatform.errors import VmplatformError
from vmplatform.model.accel import Accel
from vmplatform.model.features import AppliesTo, Catalog, Category
from vmplatform.model.jsonvalue import JsonObject, JsonValue
from vmplatform.model.platforms import Platform, PlatformSet
from vmplatform.model.releases import kernel_version, release_of
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.records import record


class Lack(enum.Enum):
    """How a host falls short of one guaranteed feature."""

    MISSING = "missing"            # VMs rely on it and the host lacks it (or cannot show it)
    NEEDS_DEVICE = "needs-device"  # only usable through an optional device the host does not have


@record
class Unavailable:
    feature: str
    status: FeatureStatus
    reason: str
    lack: Lack = Lack.MISSING
    device: str = ""               # for NEEDS_DEVICE: the optional feature (device) that is absent


@record
class PlatformSupport:
    platform: Platform
    supported: bool                # usable: nothing missing (absent optional devices aside)
    unavailable: tuple[Unavailable, ...] = ()
    is_default: bool = False
    newer_than_host: bool = False  # its kernel release is newer than the running kernel's

    @property
    def name(self) -> str:
        return self.platform.name

    @property
    def guaranteed(self) -> bool:
        """Every guarantee holds on this host, for VMs with any device."""
        return not self.unavailable

    @property
    def missing(self) -> tuple[Unavailable, ...]:
        return tuple(u for u in self.unavailable if u.lack is Lack.MISSING)

    @property
    def without_devices(self) -> tuple[str, ...]:
        """The absent optional devices VMs must not use to run on this platform here."""
        return tuple(dict.fromkeys(u.device for u in self.unavailable if u.lack is Lack.NEEDS_DEVICE))

    def to_json(self) -> JsonObject:
        """One platform as ``query-platforms`` answers it."""
        p = self.platform
        obj: JsonObject = {
            "name": p.name, "description": p.description, "vendor": p.vendor,
            "released": p.released.isoformat(), "supported": self.supported,
        }
        obj["guaranteed"] = self.guaranteed
        if self.unavailable:
            obj["unavailable-features"] = [
                {"id": u.feature, "status": u.status.value, "reason": u.reason, "lack": u.lack.value,
                 **({"device": u.device} if u.device else {})} for u in self.unavailable]
            if self.without_devices:
                obj["usable-without"] = [*self.without_devices]
        if self.newer_than_host:
            obj["newer-than-host"] = True
        obj["is-default"] = self.is_default
        return obj


@record
class SupportReport:
    """Every platform, newest first, judged against one host report for one accelerator."""

    host: HostReport
    platforms: tuple[PlatformSupport, ...]
    accel: Accel = Accel.KVM

    def __iter__(self) -> Iterator[PlatformSupport]:
        return iter(self.platforms)

    @property
    def default(self) -> Platform:
        for ps in self.platforms:
            if ps.is_default:
                return ps.platform
        raise VmplatformError(
            f"host {self.host.name} (Linux {self.host.host.kernel_release}) supports none of the "
            f"{len(self.platforms)} known platforms for accel={self.accel.value} (none usable and not newer "
            "than its kernel)",
            "check the probe output ('vmplatform probe'): every platform needs at least TAP with a vnet "
            "header; probe as root so TAP can be tested; or name a platform explicitly")

    @property
    def has_default(self) -> bool:
        return any(ps.is_default for ps in self.platforms)

    def to_json(self) -> list[JsonValue]:
        """Every platform, newest first, as ``query-platforms`` answers (CLI and QMP alike)."""
        return [ps.to_json() for ps in self.platforms]

    def get(self, name: str) -> PlatformSupport:
        for ps in self.platforms:
            if ps.name == name:
                return ps
        raise KeyError(name)


def absent_device(feature: str, report: HostReport, catalog: Catalog) -> str | None:
    """For a ``feature`` the host does not show: the optional prerequisite it lacks (or ``feature``
    itself, if optional), else None."""
    feat = catalog.get(feature)
    for req in feat.requires:
        if catalog.get(req).category is Category.OPTIONAL and report.status(req) is not FeatureStatus.SUPPORTED:
            return req
    return feature if feat.category is Category.OPTIONAL else None


def unusable_here(feature: str, report: HostReport, catalog: Catalog) -> str | None:
    """Why ``feature`` cannot matter on this host (an optional prerequisite is absent), else None."""
    for req in catalog.get(feature).requires:
        if catalog.get(req).category is Category.OPTIONAL and report.status(req) is FeatureStatus.UNSUPPORTED:
            return f"needs {req}, which this host does not have"
    return None


def missing_features(platform: Platform, report: HostReport, catalog: Catalog,
                     accel: Accel = Accel.KVM) -> tuple[Unavailable, ...]:
    """Every guarantee of ``platform`` this host does not show, for a VM under ``accel``."""
    out = []
    for fid in sorted(platform.features):
        if not catalog.get(fid).matters_under(accel):
            continue
        status = report.status(fid)
        if status is FeatureStatus.SUPPORTED:
            continue
        device = absent_device(fid, report, catalog)
        if device is None:
            out.append(Unavailable(fid, status, report.reason(fid)))
        else:
            why = report.reason(device) if device == fid else f"{device}: {report.reason(device)}"
            out.append(Unavailable(fid, status, why, Lack.NEEDS_DEVICE, device))
    return tuple(out)


def host_accel(report: HostReport, catalog: Catalog) -> Accel:
    """KVM when the report shows this host has /dev/kvm, else TCG."""
    kvm = [f for f in catalog if f.applies_to is AppliesTo.KVM and report.result(f.id) is not None]
    if not kvm:
        return Accel.KVM
    gone = (errno_mod.ENOENT, errno_mod.ENODEV, errno_mod.ENXIO)
    for f in kvm:
        r = report.result(f.id)
        assert r is not None
        if r.status is not FeatureStatus.UNSUPPORTED or r.evidence.errno not in gone:
            return Accel.KVM
    return Accel.TCG


def running_release(report: HostReport) -> tuple[int, ...] | None:
    """The running kernel's release (6.18 for 6.18.44-fc), or None when it cannot be read."""
    version = kernel_version(report.host.kernel_release)
    if not version or version[0] == 0:
        return None
    return release_of(version)


def host_vendor(report: HostReport, vendors: set[str]) -> str | None:
    """The distro vendor of this host: os-release ID, else the first ID_LIKE that has platforms."""
    osr = report.host.os_release
    for vid in [osr.get("ID", ""), *osr.get("ID_LIKE", "").split()]:
        if vid in vendors:
            return vid
    return None


# Ubuntu release of each codename (Ubuntu's release list, wiki.ubuntu.com/Releases):
# derivatives name their Ubuntu base by codename only.
UBUNTU_CODENAMES = {"focal": "20.04", "jammy": "22.04", "noble": "24.04"}


def vendor_release(report: HostReport, vendor: str | None) -> str | None:
    """This host's release of ``vendor``'s distribution, as written in that vendor's platform names
    ("24.04", "9.5", "12"), or None when the host does not say it.

    os-release ``VERSION_ID`` is the host's own distribution's number, which is the vendor's only
    when the host *is* the vendor's distribution or numbers its releases as RHEL does: the
    distributions that say ``ID_LIKE=rhel`` give the RHEL minor release they rebuild (Rocky Linux 9.5
    and AlmaLinux 9.5 rebuild RHEL 9.5's source RPMs) or the major release alone (CentOS Stream 9:
    "9", which names no platform). An Ubuntu derivative says its base in ``UBUNTU_CODENAME`` (Linux
    Mint 22: ``VERSION_ID="22"``, ``UBUNTU_CODENAME=noble``, i.e. Ubuntu 24.04; Mint 22 release
    notes, linuxmint.com)."""
    osr = report.host.os_release
    if osr.get("ID") == vendor or vendor == "rhel":
        return osr.get("VERSION_ID") or None
    if vendor == "ubuntu":
        return UBUNTU_CODENAMES.get(osr.get("UBUNTU_CODENAME", ""))
    return None


def platform_release(p: Platform) -> str | None:
    """The distro release a vendor platform is named for: "22.04" for ``linux-ubuntu-22.04-hwe``;
    None for a name that does not follow ``linux-VENDOR-RELEASE[-VARIANT]`` (upstream, merged)."""
    prefix = f"linux-{p.vendor}-"
    if not p.name.startswith(prefix):
        return None
    return p.name.removeprefix(prefix).split("-")[0]


def _newer_than(p: Platform, running: tuple[int, ...] | None) -> bool:
    return running is not None and bool(p.kernel) and release_of(kernel_version(p.kernel)) > running


def choose_default(usable: list[Platform], report: HostReport, vendors: set[str]) -> Platform | None:
    """The host's default platform among the ``usable`` ones (rule in the module docstring);
    ``vendors``: the vendors of every known platform, usable here or not."""
    running = running_release(report)
    cands = [p for p in usable if not _newer_than(p, running)]
    vendor = host_vendor(report, vendors)
    cands = [p for p in cands if p.vendor in ("upstream", vendor)] or cands
    maximal = [p for p in cands if not any(p.features < q.features for q in cands)]
    if not maximal:
        return None
    release = vendor_release(report, vendor)

    def key(p: Platform) -> tuple[tuple[int, ...], bool, object, str]:
        own_release = release is not None and p.vendor == vendor and platform_release(p) == release
        return (release_of(kernel_version(p.kernel)), own_release, p.released, p.name)

    return max(maximal, key=key)


def evaluate(report: HostReport, platforms: PlatformSet, accel: Accel | None = None) -> SupportReport:
    """Judge every platform against ``report`` for ``accel`` (default: :func:`host_accel`), mark the default."""
    catalog = platforms.catalog
    accel = accel or host_accel(report, catalog)
    running = running_release(report)
    judged = [(p, missing_features(p, report, catalog, accel)) for p in platforms.ordered()]
    usable = [p for p, lacks in judged if all(u.lack is Lack.NEEDS_DEVICE for u in lacks)]
    default = choose_default(usable, report, {p.vendor for p in platforms})
    out = [PlatformSupport(p, all(u.lack is Lack.NEEDS_DEVICE for u in lacks), lacks, p is default,
                           _newer_than(p, running)) for p, lacks in judged]
    out.reverse()  # newest first
    return SupportReport(report, tuple(out), accel)
