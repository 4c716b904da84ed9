"""Boot a few real Debian kernels (the matrix's ``ci`` entries) and probe inside them.

The whole matrix is scripts/real-kernels --all; here about three kernels (the
oldest, Debian 12's and a 7.x) are booted again on every run, so the
checked-in reports stay what the tool produces today: the fresh probe must
answer exactly as the checked-in one, and the query-platforms run inside the
guest must agree with evaluate() of this checkout on the same report.
Skipped, with the reason, when the Debian archive or a tool is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.harness import paths
from tests.harness.realkernels.apt import AptError
from tests.harness.realkernels.boot import BOOT_TIMEOUT_S, BootResult, boot
from tests.harness.realkernels.kernel import KernelUnavailable, PreparedKernel, prepare_all
from tests.harness.realkernels.matrix import DATA_DIR, ci_entries, load_record
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import from_json_obj
from vmplatform.resolution.support import evaluate

pytestmark = [pytest.mark.kernels, pytest.mark.qemu]
CI = [e.spec for e in ci_entries()]


def _cache() -> Path:
    configured = os.environ.get("VMPLATFORM_KERNEL_CACHE")
    if configured:
        return Path(configured)
    system = Path("/var/cache/vmplatform/real-kernels")
    if os.access(system.parent if not system.exists() else system, os.W_OK):
        return system
    return Path.home() / ".cache" / "vmplatform" / "real-kernels"


@pytest.fixture(scope="module")
def booted() -> dict[str, BootResult]:
    missing = [t for t in ("apt-get", "dpkg-deb") if shutil.which(t) is None]
    if missing or paths.qemu_binary() is None or not paths.BUSYBOX.exists():
        pytest.skip(f"needs apt-get, dpkg-deb, QEMU and busybox; missing: {missing or 'QEMU or busybox'}")
    try:
        kernels = prepare_all(CI, _cache())
    except AptError as err:
        pytest.skip(f"Debian archive unreachable: {err}")
    unavailable = [str(k) for k in kernels if isinstance(k, KernelUnavailable)]
    assert not unavailable, f"CI kernels could not be prepared: {unavailable}"
    return {k.spec.abi: boot(k) for k in kernels if isinstance(k, PreparedKernel)}


@pytest.mark.parametrize("abi", [s.abi for s in CI])
def test_fresh_boot_answers_as_the_checked_in_report(abi: str, booted: dict[str, BootResult]) -> None:
    result = booted[abi]
    assert result.wall_s < BOOT_TIMEOUT_S
    assert all(state == "loaded" for state in result.modules.values()), result.modules
    kept = load_record(DATA_DIR / abi)
    for run, report in (("probe", kept.report), ("probe-tun-only", kept.tun_only)):
        assert report is not None, f"{abi}: no checked-in {run} report; rerun scripts/real-kernels {abi}"
        fresh = from_json_obj(result.outputs[run], f"{abi} {run}")
        assert fresh.host.kernel_release == report.host.kernel_release
        assert {r.feature: r.status for r in fresh.results} == {r.feature: r.status for r in report.results}, (
            f"{abi} {run}: the kernel answers differently from tests/data/kernels; rerun scripts/real-kernels")


@pytest.mark.parametrize("abi", [s.abi for s in CI])
def test_query_platforms_in_the_guest_agrees_with_evaluate(abi: str, booted: dict[str, BootResult]) -> None:
    result = booted[abi]
    fresh = from_json_obj(result.outputs["probe"], f"{abi} probe")
    sr = evaluate(fresh, load_platforms(env={}, system=None))
    inside = {p["name"]: (p["supported"], p["guaranteed"], p["is-default"])
              for p in result.outputs["query-platforms"]}
    assert inside == {ps.name: (ps.supported, ps.guaranteed, ps.is_default) for ps in sr}
