"""The default platform of derivative distros, from their real os-release files.

A derivative names its parent only in ``ID_LIKE``: the parent's platforms
describe its kernel (Rocky and AlmaLinux rebuild the RHEL kernel from the same
source RPMs; Linux Mint ships Ubuntu's kernel packages), so its default is
the parent's platform for the same release, not an upstream one.

os-release contents, verbatim from each distro's /etc/os-release:
- Rocky Linux 9.5:  ID="rocky", ID_LIKE="rhel centos fedora", VERSION_ID="9.5"
- Rocky Linux 9.4:  ID="rocky", ID_LIKE="rhel centos fedora", VERSION_ID="9.4"
- AlmaLinux 9.4:    ID="almalinux", ID_LIKE="rhel centos fedora", VERSION_ID="9.4"
  (Rocky and AlmaLinux number each release as the RHEL minor release they rebuild)
- CentOS Stream 9:  ID="centos", ID_LIKE="rhel fedora", VERSION_ID="9" (no minor release: the
  stream runs ahead of the newest RHEL 9 minor release)
- Linux Mint 22:    ID=linuxmint, ID_LIKE="ubuntu debian", VERSION_ID="22", UBUNTU_CODENAME=noble
  (Mint 22 is based on Ubuntu 24.04 "noble": its VERSION_ID is Mint's own number)
- Linux Mint 21.3:  ID=linuxmint, ID_LIKE="ubuntu debian", VERSION_ID="21.3", UBUNTU_CODENAME=jammy
  (Mint 21.x is based on Ubuntu 22.04 "jammy" and ships its 5.15 GA kernel)
- Devuan 5:         ID=devuan, ID_LIKE=debian, VERSION_ID=5 (based on Debian 12 bookworm)
Ubuntu codenames (Ubuntu's release list, wiki.ubuntu.com/Releases): focal 20.04, jammy 22.04, noble 24.04.

The host feature sets are written here from kernel facts, not from the
platform definitions (synthetic hosts: no such machine is reachable here):
- EL9 kernel 5.14.0-503: vnet header (2.6.27), UFO (4.15), multiqueue (3.8),
  eBPF steering (4.16), vsock SEQPACKET (5.14, ced7b713711f); no USO (Red Hat:
  "RHEL9 kernels do not support that", qemu-kvm MR 289 / RHEL-40950); no vhost
  ring reset (6.3, 313389be06ff); CONFIG_KVM_SMM=y, THP=y (EL9 kernel config).
- Ubuntu noble 6.8.0: the above plus USO (6.2) and vhost-net ring reset (6.3),
  none of the 6.17 features (tests/kernels/test_platform_contents.py: 6.16 EINVAL for UDP-tunnel GSO);
  KVM SMM and Hyper-V (CONFIG_KVM_SMM=y, CONFIG_KVM_HYPERV=y in noble's annotations).
- Ubuntu jammy 5.15.0: vnet header, UFO, multiqueue, steering, SEQPACKET; no USO (6.2), no
  ring reset (6.3); CONFIG_KVM_SMM=y, CONFIG_TRANSPARENT_HUGEPAGE=y (jammy's annotations).
- Debian 12 6.1.0: vnet header, UFO, multiqueue, steering, SEQPACKET; no USO,
  no ring reset (tests/kernels/test_platform_contents.py: 6.1.176 answers EINVAL / no bit 40).
"""

from __future__ import annotations

import pytest

from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.probe.fake import FakeHost
from vmplatform.resolution.support import evaluate, host_vendor

CATALOG = default_catalog()
PLATFORMS = load_platforms(env={}, system=None)

BASE = {"tap-vnet-hdr", "tap-ufo", "tun-multiqueue", "tun-steering-ebpf", "vhost-vsock-seqpacket",
        "host-page-size-4k", "thp-pmd-2m", "vhost-net", "vhost-vsock", "kvm-smm"}
EL9 = BASE
NOBLE = BASE | {"tap-uso", "vhost-net-ring-reset", "kvm-hyperv-cpuid"}
BOOKWORM = BASE | {"kvm-hyperv-cpuid"}
JAMMY = BASE

ROCKY_95 = {"NAME": "Rocky Linux", "ID": "rocky", "ID_LIKE": "rhel centos fedora", "VERSION_ID": "9.5"}
ROCKY_94 = {"NAME": "Rocky Linux", "ID": "rocky", "ID_LIKE": "rhel centos fedora", "VERSION_ID": "9.4"}
STREAM_9 = {"NAME": "CentOS Stream", "ID": "centos", "ID_LIKE": "rhel fedora", "VERSION_ID": "9"}
ALMA_94 = {"NAME": "AlmaLinux", "ID": "almalinux", "ID_LIKE": "rhel centos fedora", "VERSION_ID": "9.4"}
MINT_22 = {"NAME": "Linux Mint", "ID": "linuxmint", "ID_LIKE": "ubuntu debian", "VERSION_ID": "22",
           "UBUNTU_CODENAME": "noble"}
MINT_21_3 = {"NAME": "Linux Mint", "ID": "linuxmint", "ID_LIKE": "ubuntu debian", "VERSION_ID": "21.3",
             "UBUNTU_CODENAME": "jammy"}
DEVUAN_5 = {"NAME": "Devuan GNU/Linux", "ID": "devuan", "ID_LIKE": "debian", "VERSION_ID": "5"}

CASES = [
    # (os-release, kernel, features, expected default, the vendor whose platforms it may use)
    (ROCKY_95, "5.14.0-503.14.1.el9_5.x86_64", EL9, "linux-rhel-9.5", "rhel"),
    (ROCKY_94, "5.14.0-427.13.1.el9_4.x86_64", EL9, "linux-rhel-9.4", "rhel"),
    (ALMA_94, "5.14.0-427.13.1.el9_4.x86_64", EL9, "linux-rhel-9.4", "rhel"),
    # no minor release to match: the newest RHEL 9 platform of its kernel
    (STREAM_9, "5.14.0-570.el9.x86_64", EL9, "linux-rhel-9.5", "rhel"),
    # Mint 22 runs noble's 6.8 kernel. Ubuntu has two platforms of that kernel with the same
    # features (24.04 GA and 22.04 HWE); its Ubuntu base is noble, i.e. 24.04, so the 24.04 GA
    # platform, although the 22.04 HWE one is newer and Mint's own VERSION_ID "22" begins "22".
    (MINT_22, "6.8.0-51-generic", NOBLE, "linux-ubuntu-24.04", "ubuntu"),
    # Mint 21.3 runs jammy's 5.15 GA kernel: 22.04 and 20.04 HWE have that kernel and the same
    # features; jammy is 22.04 (the newer-dated 20.04 HWE would win on the date).
    (MINT_21_3, "5.15.0-91-generic", JAMMY, "linux-ubuntu-22.04", "ubuntu"),
    (DEVUAN_5, "6.1.0-28-amd64", BOOKWORM, "linux-debian-12", "debian"),
]


@pytest.mark.parametrize("osr,kernel,features,expected,vendor", CASES,
                         ids=[f'{c[0]["ID"]}-{c[0]["VERSION_ID"]}' for c in CASES])
def test_derivative_defaults_to_its_parents_platform(osr: dict[str, str], kernel: str, features: set[str],
                                                     expected: str, vendor: str) -> None:
    report = FakeHost(hostname=osr["ID"], kernel_release=kernel, supported=frozenset(features),
                      os_release=osr).run(CATALOG)
    assert host_vendor(report, {p.vendor for p in PLATFORMS}) == vendor
    sr = evaluate(report, PLATFORMS)
    assert sr.default.name == expected
    assert sum(ps.is_default for ps in sr) == 1


def test_the_same_kernel_without_id_like_gets_an_upstream_default() -> None:
    """Without ID_LIKE nothing ties the host to RHEL: the newest upstream platform of its
    kernel generation (5.14) that it supports."""
    osr = {"ID": "rocky", "VERSION_ID": "9.5"}
    report = FakeHost(hostname="r", kernel_release="5.14.0-503.14.1.el9_5.x86_64", supported=frozenset(EL9),
                      os_release=osr).run(CATALOG)
    assert evaluate(report, PLATFORMS).default.name == "linux-5.14"


def test_own_id_wins_over_id_like() -> None:
    """Ubuntu says ID_LIKE=debian: its default is an Ubuntu platform, never a Debian one."""
    osr = {"ID": "ubuntu", "ID_LIKE": "debian", "VERSION_ID": "24.04"}
    report = FakeHost(hostname="u", kernel_release="6.8.0-51-generic", supported=frozenset(NOBLE),
                      os_release=osr).run(CATALOG)
    assert host_vendor(report, {p.vendor for p in PLATFORMS}) == "ubuntu"
    assert evaluate(report, PLATFORMS).default.name == "linux-ubuntu-24.04"


def _ubuntu_on(osr: dict[str, str], kernel: str, features: set[str]) -> str:
    report = FakeHost(hostname="u", kernel_release=kernel, supported=frozenset(features),
                      os_release=osr).run(CATALOG)
    return evaluate(report, PLATFORMS).default.name


def test_ubuntu_lts_on_its_hwe_kernel_gets_its_own_hwe_platform() -> None:
    """Ubuntu 22.04 with the 6.8 HWE kernel: its own release's HWE platform, not 24.04's GA one
    (same kernel, same features; the release in the name decides)."""
    osr = {"ID": "ubuntu", "ID_LIKE": "debian", "VERSION_ID": "22.04", "UBUNTU_CODENAME": "jammy"}
    assert _ubuntu_on(osr, "6.8.0-51-generic", NOBLE) == "linux-ubuntu-22.04-hwe"


def test_the_release_in_the_name_matches_exactly_not_as_a_prefix() -> None:
    """A release that only begins like a platform's ("22" and "22.04") is not that release: an Ubuntu
    derivative without UBUNTU_CODENAME falls through to the newest release date (22.04 HWE, released
    2024-09-12, after 24.04 GA on 2024-04-25), and the same host saying noble gets 24.04."""
    osr = {"ID": "linuxmint", "ID_LIKE": "ubuntu debian", "VERSION_ID": "24"}
    assert _ubuntu_on(osr, "6.8.0-51-generic", NOBLE) == "linux-ubuntu-22.04-hwe"
    assert _ubuntu_on({**osr, "UBUNTU_CODENAME": "noble"}, "6.8.0-51-generic", NOBLE) == "linux-ubuntu-24.04"
    # an unknown codename names no release: the date decides
    assert _ubuntu_on({**osr, "UBUNTU_CODENAME": "plucky"}, "6.8.0-51-generic", NOBLE) == "linux-ubuntu-22.04-hwe"


def test_a_derivatives_own_version_id_is_not_its_parents_release() -> None:
    """Mint's VERSION_ID is Mint's number: Mint "22.04" (no such Mint) with a jammy base is on
    Ubuntu 22.04, and "24.04" with a jammy base is still on 22.04."""
    osr = {"ID": "linuxmint", "ID_LIKE": "ubuntu debian", "VERSION_ID": "24.04", "UBUNTU_CODENAME": "jammy"}
    assert _ubuntu_on(osr, "6.8.0-51-generic", NOBLE) == "linux-ubuntu-22.04-hwe"
    osr = {"ID": "ubuntu", "ID_LIKE": "debian", "VERSION_ID": "24.04", "UBUNTU_CODENAME": "jammy"}
    # Ubuntu itself: its VERSION_ID is the release (the codename agrees on a real host)
    assert _ubuntu_on(osr, "6.8.0-51-generic", NOBLE) == "linux-ubuntu-24.04"


def test_os_release_keeps_the_ubuntu_base_of_a_derivative(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe keeps UBUNTU_CODENAME from /etc/os-release (Linux Mint 22's keys, as the standard
    library's os-release(5) reader returns them) and drops what no rule reads."""
    import platform

    from vmplatform.probe.identity import local_identity

    mint = {"NAME": "Linux Mint", "VERSION": "22 (Wilma)", "ID": "linuxmint", "ID_LIKE": "ubuntu debian",
            "PRETTY_NAME": "Linux Mint 22", "VERSION_ID": "22", "VERSION_CODENAME": "wilma",
            "UBUNTU_CODENAME": "noble"}
    monkeypatch.setattr(platform, "freedesktop_os_release", lambda: dict(mint))
    assert dict(local_identity().os_release) == {
        "ID": "linuxmint", "ID_LIKE": "ubuntu debian", "PRETTY_NAME": "Linux Mint 22", "VERSION_ID": "22",
        "VERSION_CODENAME": "wilma", "UBUNTU_CODENAME": "noble"}


def test_debian_12_on_its_backports_kernel_gets_the_backports_platform() -> None:
    """Debian 12 with bookworm-backports' 6.12 kernel: linux-debian-12-backports (released 2025-01-20)
    and linux-debian-13 (2025-08-09) have the same 6.12 kernel; the host's release, 12, names the
    first one, although the second is newer. (The kernel's features: those of debian13-6.12's
    report in tests/data/hosts, the same 6.12 source.)"""
    from tests.harness.corpus import HOSTS
    from vmplatform.model.report import loads

    trixie = loads((HOSTS / "debian13-6.12.json").read_text())
    features = trixie.supported()
    osr = {"ID": "debian", "VERSION_ID": "12", "VERSION_CODENAME": "bookworm"}
    report = FakeHost(hostname="bpo", kernel_release="6.12.12+bpo-amd64", supported=frozenset(features),
                      os_release=osr).run(CATALOG)
    assert evaluate(report, PLATFORMS).default.name == "linux-debian-12-backports"
    on_13 = FakeHost(hostname="t", kernel_release="6.12.12-amd64", supported=frozenset(features),
                     os_release={"ID": "debian", "VERSION_ID": "13"}).run(CATALOG)
    assert evaluate(on_13, PLATFORMS).default.name == "linux-debian-13"
