"""Which accelerator a host's VMs get, and the running kernel's release, from real reports.

The reports are the real probes of Debian kernels booted under TCG (tests/data/kernels, see
tests/harness/realkernels/payload.py): ``host-report-tun-only.json`` is probed before any KVM
module is loaded, so there is no /dev/kvm (open fails with ENOENT) and a VM there can only run
under TCG; ``host-report.json`` after kvm_amd/kvm_intel are loaded. tests/data/probed holds a
real KVM guest (PVM) probed as root (/dev/kvm opens, KVM_CAP_X86_SMM is not offered) and as
nobody (open(/dev/kvm) fails with EACCES: the device exists, only the permission is missing).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vmplatform.model.accel import Accel
from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import HostReport, loads
from vmplatform.probe.fake import FakeHost
from vmplatform.records import replace
from vmplatform.resolution.support import evaluate, host_accel

CATALOG = default_catalog()
PLATFORMS = load_platforms(env={}, system=None)
DATA = Path(__file__).parent.parent / "data"
KERNELS = sorted(p for p in (DATA / "kernels").iterdir() if (p / "host-report.json").exists())


def _report(path: Path) -> HostReport:
    return loads(path.read_text(encoding="utf-8"), str(path))


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda p: p.name)
def test_a_host_without_dev_kvm_runs_tcg_and_with_it_kvm(kernel: Path) -> None:
    without = _report(kernel / "host-report-tun-only.json")
    assert host_accel(without, CATALOG) is Accel.TCG
    assert evaluate(without, PLATFORMS).accel is Accel.TCG
    with_kvm = _report(kernel / "host-report.json")
    assert host_accel(with_kvm, CATALOG) is Accel.KVM


@pytest.mark.parametrize("name", ["debian12-6.18-pvm-root.json", "debian12-6.18-pvm-unprivileged.json"])
def test_a_kvm_host_stays_kvm_when_a_capability_is_missing_or_unreadable(name: str) -> None:
    """KVM without SMM (capability not offered), and KVM nobody may open (EACCES): still KVM."""
    report = _report(DATA / "probed" / name)
    assert host_accel(report, CATALOG) is Accel.KVM


def test_a_report_that_never_tested_kvm_is_taken_as_kvm() -> None:
    """Nothing in the report says there is no /dev/kvm (e.g. a report of features other than KVM's)."""
    tun_only = _report(KERNELS[0] / "host-report-tun-only.json")
    kvm_ids = {f.id for f in CATALOG if f.applies_to.value == "kvm"}
    trimmed = replace(tun_only, results=tuple(r for r in tun_only.results if r.feature not in kvm_ids))
    assert host_accel(trimmed, CATALOG) is Accel.KVM


# A 6.0 kernel's features (each from its upstream release): vnet header (2.6.27), UFO (2.6.27),
# multiqueue (3.8), eBPF steering (4.16), vsock SEQPACKET (5.14); no USO (6.2), no ring reset (6.3).
# Linux 6.1 adds nothing to these, so linux-6.0 and linux-6.1 guarantee the same.
LINUX_6_0 = frozenset({"tap-vnet-hdr", "tap-ufo", "tun-multiqueue", "tun-steering-ebpf", "vhost-vsock-seqpacket",
                       "vhost-net", "vhost-vsock", "host-page-size-4k", "thp-pmd-2m", "kvm-smm", "kvm-hyperv-cpuid"})


@pytest.mark.parametrize(("kernel", "expected"), [("6.0.19-060019-generic", "linux-6.0"), ("6.1.19", "linux-6.1"),
                                                  ("5.0.21", "linux-5.0")])
def test_a_dot_zero_kernel_never_defaults_to_a_newer_release(kernel: str, expected: str) -> None:
    """An x.0 kernel is a release like any other: a 6.0 host with the features 6.1 also has
    defaults to linux-6.0, never to linux-6.1 (newer than its kernel)."""
    features = LINUX_6_0 if not kernel.startswith("5.0") else frozenset(
        {"tap-vnet-hdr", "tap-ufo", "tun-multiqueue", "tun-steering-ebpf", "vhost-net", "vhost-vsock",
         "host-page-size-4k", "thp-pmd-2m", "kvm-smm", "kvm-hyperv-cpuid"})  # 5.0: no SEQPACKET (5.14)
    report = FakeHost(hostname="mainline", kernel_release=kernel, supported=features, os_release={}).run(CATALOG)
    sr = evaluate(report, PLATFORMS)
    assert sr.default.name == expected
    assert [ps.name for ps in sr if ps.newer_than_host][-1] == _next_release(expected)


def _next_release(name: str) -> str:
    """The upstream platform right after ``name`` (linux-6.0 -> linux-6.1, linux-5.0 -> linux-5.1)."""
    names = [p.name for p in PLATFORMS.ordered() if p.vendor == "upstream"]
    return names[names.index(name) + 1]


def test_get_names_the_platform_it_does_not_know() -> None:
    sr = evaluate(_report(KERNELS[0] / "host-report.json"), PLATFORMS)
    with pytest.raises(KeyError, match="linux-9.99"):
        sr.get("linux-9.99")
