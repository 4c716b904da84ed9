"""The default platform of derivative distros, from their real os-release files.

A derivative names its parent only in ``ID_LIKE``: the parent's platforms
describe its kernel (Rocky and AlmaLinux rebuild the RHEL kernel from the same
source RPMs; Linux Mint ships Ubuntu's kernel packages), so its default is
the parent's platform for the same release, not an upstream one.

os-release contents, verbatim from each distro's /etc/os-release:
- Rocky Linux 9.5:  ID="rocky", ID_LIKE="rhel centos fedora", VERSION_ID="9.5"
- AlmaLinux 9.4:    ID="almalinux", ID_LIKE="rhel centos fedora", VERSION_ID="9.4"
- Linux Mint 22:    ID=linuxmint, ID_LIKE="ubuntu debian", VERSION_ID="22", UBUNTU_CODENAME=noble
  (Mint 22 is based on Ubuntu 24.04 "noble": its VERSION_ID is Mint's own number)
- Devuan 5:         ID=devuan, ID_LIKE=debian, VERSION_ID=5 (based on Debian 12 bookworm)

The host feature sets are written here from kernel facts, not from the
platform definitions (synthetic hosts: no such machine is reachable here):
- EL9 kernel 5.14.0-503: vnet header (2.6.27), UFO (4.15), multiqueue (3.8),
  eBPF steering (4.16), vsock SEQPACKET (5.14, ced7b713711f); no USO (Red Hat:
  "RHEL9 kernels do not support that", qemu-kvm MR 289 / RHEL-40950); no vhost
  ring reset (6.3, 313389be06ff); CONFIG_KVM_SMM=y, THP=y (EL9 kernel config).
- Ubuntu noble 6.8.0: the above plus USO (6.2) and vhost-net ring reset (6.3),
  none of the 6.17 features (real-kernels.md: 6.16 EINVAL for UDP-tunnel GSO);
  KVM SMM and Hyper-V (CONFIG_KVM_SMM=y, CONFIG_KVM_HYPERV=y in noble's annotations).
- Debian 12 6.1.0: vnet header, UFO, multiqueue, steering, SEQPACKET; no USO,
  no ring reset (real-kernels.md: 6.1.176 answers EINVAL / no bit 40).
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

ROCKY_95 = {"NAME": "Rocky Linux", "ID": "rocky", "ID_LIKE": "rhel centos fedora", "VERSION_ID": "9.5"}
ALMA_94 = {"NAME": "AlmaLinux", "ID": "almalinux", "ID_LIKE": "rhel centos fedora", "VERSION_ID": "9.4"}
MINT_22 = {"NAME": "Linux Mint", "ID": "linuxmint", "ID_LIKE": "ubuntu debian", "VERSION_ID": "22",
           "UBUNTU_CODENAME": "noble"}
DEVUAN_5 = {"NAME": "Devuan GNU/Linux", "ID": "devuan", "ID_LIKE": "debian", "VERSION_ID": "5"}

CASES = [
    # (os-release, kernel, features, expected default, the vendor whose platforms it may use)
    (ROCKY_95, "5.14.0-503.14.1.el9_5.x86_64", EL9, "linux-rhel-9.5", "rhel"),
    (ALMA_94, "5.14.0-427.13.1.el9_4.x86_64", EL9, "linux-rhel-9.4", "rhel"),
    # Mint 22 runs noble's 6.8 kernel. Ubuntu has two platforms of that kernel with the same
    # features (24.04 GA and 22.04 HWE); Mint's VERSION_ID names neither, so the rule's last
    # step (newest release date) picks the HWE one. Platforms carry no codename to do better.
    (MINT_22, "6.8.0-51-generic", NOBLE, "linux-ubuntu-22.04-hwe", "ubuntu"),
    (DEVUAN_5, "6.1.0-28-amd64", BOOKWORM, "linux-debian-12", "debian"),
]


@pytest.mark.parametrize("osr,kernel,features,expected,vendor", CASES, ids=[c[0]["ID"] for c in CASES])
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
