"""What platforms promise, against what real kernels answered.

Source: real Debian kernels booted under TCG (scripts/real-kernels; the
reports are in tests/data/kernels), asked with the same ioctls QEMU makes
(TUNSETOFFLOAD masks, VHOST_GET_FEATURES bits). Written here by hand:

| kernel   | USO (0x61) | UDP-tunnel GSO | ring reset (bit 40) | in-order (bit 35) | vsock SEQPACKET |
| 5.10.223 | EINVAL     | EINVAL         | no                  | no                | no              |
| 6.1.176  | EINVAL     | EINVAL         | no                  | no                | yes             |
| 6.12.95  | ok         | EINVAL         | yes                 | no                | yes             |
| 6.16.3   | ok         | EINVAL         | yes                 | no                | yes             |
| 6.17.8   | ok         | ok             | yes                 | yes               | yes             |
| 6.18.15  | ok         | ok             | yes                 | yes               | yes             |
| 7.2.12   | ok         | ok             | yes                 | yes               | yes             |

A platform of kernel release X (upstream ``linux-X``, or a Debian release
shipping X unmodified) must promise each of these features exactly when the
real kernel X has it. The base every such platform has: vnet header
(2.6.27), UFO (again since 4.15), eBPF steering (4.16), 4 KiB pages (x86-64),
KVM SMM (built into every x86 KVM before 6.2, then CONFIG_KVM_SMM default y:
14fe6763b261 "KVM: allow compiling out SMM support").
"""

from __future__ import annotations

import pytest

from vmplatform.model.platforms import load_platforms

PLATFORMS = load_platforms(env={}, system=None)
MEASURED = ("tap-uso", "tap-udp-tunnel-gso", "vhost-net-ring-reset", "vhost-net-in-order", "vhost-vsock-seqpacket")
REAL = {
    "5.10": (False, False, False, False, False),
    "6.1": (False, False, False, False, True),
    "6.12": (True, False, True, False, True),
    "6.16": (True, False, True, False, True),
    "6.17": (True, True, True, True, True),
    "6.18": (True, True, True, True, True),
    "7.2": (True, True, True, True, True),
}
BASE = {"tap-vnet-hdr", "tap-ufo", "tun-steering-ebpf", "host-page-size-4k", "kvm-smm"}
# Platforms whose kernel is that release, unmodified as far as these features go.
PLATFORM_KERNEL = [
    ("linux-5.10", "5.10"), ("linux-6.1", "6.1"), ("linux-6.12", "6.12"), ("linux-6.16", "6.16"),
    ("linux-6.17", "6.17"), ("linux-6.18", "6.18"), ("linux-7.2", "7.2"),
    ("linux-debian-11", "5.10"), ("linux-debian-12", "6.1"), ("linux-debian-12-backports", "6.12"),
    ("linux-debian-13", "6.12"),
]


@pytest.mark.parametrize("name,kernel", PLATFORM_KERNEL)
def test_platform_promises_what_the_real_kernel_has(name: str, kernel: str) -> None:
    if name not in {p.name for p in PLATFORMS}:
        pytest.skip(f"no platform {name} is defined")
    features = PLATFORMS.get(name).features
    assert BASE <= features
    assert {f: f in features for f in MEASURED} == dict(zip(MEASURED, REAL[kernel], strict=True))


def test_rhel_9_never_promises_uso() -> None:
    """Red Hat: "RHEL9 kernels do not support that" (qemu-kvm MR 289, RHEL-40950) and
    "RHEL9 kernels have USO* disabled while RHEL10 has it enabled" (MR 353, RHEL-80313)."""
    rhel9 = [p for p in PLATFORMS if p.name.startswith("linux-rhel-9.")]
    assert rhel9
    assert all("tap-uso" not in p.features for p in rhel9)
    assert "tap-uso" in PLATFORMS.get("linux-rhel-10.0").features


def test_upstream_platforms_never_promise_deployment_features() -> None:
    """Whether /dev/vhost-* opens, BPF privilege, TSC scaling hardware and the THP mode depend on
    the deployment, not on the release: no upstream platform may promise them."""
    optional = {"vhost-net", "vhost-vsock", "ebpf-rss", "kvm-tsc-control", "thp-pmd-2m"}
    for p in PLATFORMS:
        if p.vendor == "upstream":
            assert not (p.features & optional), p.name
