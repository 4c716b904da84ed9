"""The real-kernel reports (tests/data/kernels, written by scripts/real-kernels) against the
measurements of separate boots of the same kernels, written by hand in test_platform_contents.py:
two independent runs of the same ioctls must agree. And merges over those real reports, whose
"tun-only" boots leave every vhost feature ``unknown`` (no vhost module loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernels.test_platform_contents import MEASURED, REAL
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import FeatureStatus, HostReport, loads
from vmplatform.resolution.merge import common_features

KERNELS = Path(__file__).parent.parent / "data" / "kernels"
PLATFORMS = load_platforms(env={}, system=None)
# 7.3 adds nothing the catalog knows after 7.2: the same row.
ROWS = {**REAL, "7.3": REAL["7.2"]}


def report(abi: str, kind: str = "host-report") -> HostReport:
    path = KERNELS / abi / f"{kind}.json"
    if not path.exists():
        pytest.skip(f"no real-kernel report {path}")
    return loads(path.read_text(), str(path))


def release(abi: str) -> str:
    return ".".join(abi.split(".")[:2])


ABIS = sorted(p.name for p in KERNELS.iterdir() if p.is_dir()) if KERNELS.is_dir() else []


@pytest.mark.parametrize("abi", ABIS)
def test_real_kernel_report_agrees_with_the_reference_measurement(abi: str) -> None:
    row = ROWS.get(release(abi))
    if row is None:
        pytest.skip(f"the reference measured no {release(abi)} kernel")
    r = report(abi)
    got = {f: r.status(f) for f in MEASURED}
    want = {f: FeatureStatus.SUPPORTED if has else FeatureStatus.UNSUPPORTED for f, has in zip(MEASURED, row,
                                                                                               strict=True)}
    assert got == want


def test_every_measured_release_has_a_report() -> None:
    assert {release(a) for a in ABIS} >= set(REAL)


def test_merge_over_real_reports_with_unknown_vhost() -> None:
    """6.12 with every module (ring reset supported) and 6.17 with only tun loaded (vhost unknown):
    USO is common, vhost ring reset is not (6.17 could not confirm it), nor anything of KVM."""
    full612 = report("6.12.95+deb12-amd64")
    tun617 = report("6.17.13+deb13-amd64", "host-report-tun-only")
    assert full612.status("vhost-net-ring-reset") is FeatureStatus.SUPPORTED
    assert tun617.status("vhost-net-ring-reset") is FeatureStatus.UNKNOWN
    assert common_features([full612, tun617], PLATFORMS) == {
        "tap-vnet-hdr", "tap-ufo", "tap-uso", "tun-multiqueue", "tun-steering-ebpf", "ebpf-rss",
        "host-page-size-4k", "thp-pmd-2m"}
