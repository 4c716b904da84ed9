"""vmplatform prevents the USO live-migration break that test_migration_plain shows.

Same setup as test_migration_plain: a 6.12 guest under QEMU 10 (TCG) on a TAP
backend; the destination is this host with an LD_PRELOAD shim that makes
TUNSETOFFLOAD reject the USO bits as Linux < 6.2 does. The shim is loaded
into every process that plays the destination, including ``vmplatform probe``
and the ``vmplatform qemu`` front-end, so their real ioctls see the old host.

b. Pre-migration check: a guest that negotiated USO is refused by
   ``vmplatform check --qmp`` against the destination's host report, naming
   tap-uso, before any migration starts; the guest keeps running.
c. Both sides started with ``vmplatform qemu -platform linux-6.1`` (a
   platform the destination supports): USO is pinned off on both, the
   migration completes and the guest runs on with identical features. The
   front-end refuses to start the destination with ``-platform linux-6.2``
   (exit 1 before QEMU starts) instead of letting QEMU clear USO silently.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness import requirements
from tests.migration.conftest import Timing

pytest.importorskip("qemu.qmp", reason="Python package qemu.qmp is not installed (pip install qemu.qmp)")

from tests.harness.cli import probe_report, run_vmplatform  # noqa: E402
from tests.harness.guest import Guest, vmplatform_launcher  # noqa: E402
from tests.harness.migration import migrate  # noqa: E402
from tests.harness.shim import build_uso_shim  # noqa: E402
from tests.harness.virtio import USO_BITS, bits_of  # noqa: E402
from vmplatform.model.report import FeatureStatus  # noqa: E402

pytestmark = pytest.mark.guest

# A platform the shimmed destination supports (it lacks only tap-uso, from 6.2).
SAFE_PLATFORM = "linux-6.1"
UNSAFE_PLATFORM = "linux-6.2"
USO_PROPS = ("host_uso", "guest_uso4", "guest_uso6")
NET0 = "/machine/peripheral/net0"


def _has_all(mask: int, bits: tuple[int, ...]) -> bool:
    return all(mask >> b & 1 for b in bits)


def _has_none(mask: int, bits: tuple[int, ...]) -> bool:
    return not any(mask >> b & 1 for b in bits)


def _old_host_report(path: Path, shim: Path) -> None:
    """The destination's host report: ``vmplatform probe --json`` under the shim."""
    report = probe_report(path, preload=[shim])
    assert report.status("tap-uso") is FeatureStatus.UNSUPPORTED, report.reason("tap-uso")
    assert "EINVAL" in report.reason("tap-uso")
    # Only USO is gone: the shim must not make the old host look broken.
    assert report.status("tap-vnet-hdr") is FeatureStatus.SUPPORTED
    assert report.status("tap-ufo") is FeatureStatus.SUPPORTED


def _check(guest: Guest, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_vmplatform(["check", "--qmp", str(guest.aux_qmp_path), *extra])


def _uso_props(guest: Guest) -> dict[str, object]:
    return {p: guest.qmp.execute("qom-get", {"path": NET0, "property": p}) for p in USO_PROPS}


def test_check_refuses_uso_guest_before_migration_and_guest_keeps_running(
    tmp_path: Path, timing: Timing
) -> None:
    requirements.require_guest_and_shim()
    shim = build_uso_shim()
    t0 = time.monotonic()
    dest_report = tmp_path / "old-host.json"
    _old_host_report(dest_report, shim)

    # The source through the front-end without -platform: this host's default
    # platform, which (kernel >= 6.2) includes USO, named on stderr.
    with Guest("src", launcher=vmplatform_launcher()) as src:
        timing("boot_seconds", src.wait_ready())
        default = re.search(r"^vmplatform: no -platform given: using (\S+),", src.stderr_text(), re.MULTILINE)
        assert default, src.stderr_text()
        assert _uso_props(src) == {p: True for p in USO_PROPS}, default.group(1)

        negotiated = src.virtio_status().guest_features
        assert src.serial_features() == negotiated
        assert _has_all(negotiated, USO_BITS), f"guest did not negotiate USO: bits {bits_of(negotiated)}"
        tick = src.wait_tick_after(0)

        # Against the old host: refused, naming the feature, what needs it and what provides it.
        refused = _check(src, "--host", str(dest_report))
        assert refused.returncode == 1, refused
        assert "tap-uso" in refused.stderr, refused.stderr
        assert "negotiated" in refused.stderr and "6.2" in refused.stderr, refused.stderr

        as_json = _check(src, "--host", str(dest_report), "--json")
        assert as_json.returncode == 1, as_json
        verdict = json.loads(as_json.stdout)
        # The old host is this host with USO refused: it lacks one feature the VM relies on, and it
        # cannot run the platform the VM records (a problem beyond features): 'incompatible', not
        # 'subset' (QEMU's CpuModelCompareResult; docs/manifest.md).
        assert verdict["result"] == "incompatible", verdict
        plat = default.group(1)
        assert verdict["problems"] == [f"host {verdict['host']} does not support platform {plat}, which the VM "
                                       f"runs (lacks tap-uso): its destination must start with -platform {plat}"]
        assert verdict["responsible-features"] == ["tap-uso"], verdict
        assert [m["feature"] for m in verdict["missing"]] == ["tap-uso"], verdict

        # Control: this host itself (probed by check, no shim) can take the VM.
        accepted = _check(src)
        assert accepted.returncode == 0, accepted

        # Refused before anything was sent: no migration ever started, and
        # the guest is still running and ticking on the source.
        assert src.qmp.execute_dict("query-migrate").get("status") is None
        assert src.qmp.execute_dict("query-status")["status"] == "running"
        src.wait_tick_after(src.wait_tick_after(tick))
        assert src.alive()
    timing("test_seconds", time.monotonic() - t0)


def test_platform_pinned_guest_migrates_to_host_without_uso(tmp_path: Path, timing: Timing) -> None:
    requirements.require_guest_and_shim()
    shim = build_uso_shim()
    t0 = time.monotonic()
    dest_report = tmp_path / "old-host.json"
    _old_host_report(dest_report, shim)

    launcher = vmplatform_launcher(SAFE_PLATFORM)
    with Guest("src", launcher=launcher) as src, \
            Guest("dst", incoming_defer=True, preload=[shim], launcher=launcher) as dst:
        timing("boot_seconds", src.wait_ready())
        for g in (src, dst):
            assert "no -platform given" not in g.stderr_text(), g.stderr_text()
            # The front-end pinned USO off explicitly on both hosts.
            assert _uso_props(g) == {p: False for p in USO_PROPS}, g.name

        before = src.virtio_status()
        # The platform, not the host, decides what QEMU offers: same offer on both.
        assert before.host_features == dst.virtio_status().host_features, (
            bits_of(before.host_features), bits_of(dst.virtio_status().host_features))
        negotiated = before.guest_features
        assert _has_none(negotiated | before.host_features, USO_BITS), bits_of(negotiated)
        assert src.serial_features() == negotiated

        # The pre-migration check now agrees the old host can take this VM.
        ok = _check(src, "--host", str(dest_report))
        assert ok.returncode == 0, ok

        tick = src.wait_tick_after(0)
        result = migrate(src, dst)
        timing("migration_seconds", result.seconds)
        assert result.status == "completed", result.info
        assert src.qmp.execute_dict("query-status")["status"] == "postmigrate"

        # The guest runs on the destination: its counter continues there.
        assert dst.qmp.execute_dict("query-status")["status"] == "running"
        last_on_src = src.last_tick()
        assert last_on_src is not None and last_on_src >= tick
        dst.wait_tick_after(last_on_src)
        assert dst.alive(), dst.stderr_text()

        # Identical negotiated features on both sides, in QEMU and in the guest.
        after = dst.virtio_status()
        assert after.guest_features == negotiated, (bits_of(after.guest_features), bits_of(negotiated))
        assert dst.serial_features(timeout=30) == negotiated
        assert _has_none(after.guest_features, USO_BITS)
    timing("test_seconds", time.monotonic() - t0)


def test_front_end_refuses_platform_the_destination_lacks(timing: Timing) -> None:
    """No silent flip: under the shim, -platform linux-6.2 (which promises
    tap-uso) makes the front-end exit 1 before QEMU starts, where plain QEMU
    would start and clear host_uso silently (test_migration_plain)."""
    requirements.require_guest_and_shim()
    shim = build_uso_shim()
    t0 = time.monotonic()
    dst = Guest("dst", incoming_defer=True, preload=[shim], launcher=vmplatform_launcher(UNSAFE_PLATFORM))
    try:
        proc = subprocess.run(dst.build_argv(), env=dst.spawn_env(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60, check=False)
        qemu_traces = [p for p in (dst.qmp_path, dst.aux_qmp_path, dst.serial_path, Path("/sys/class/net", dst.tap))
                       if p.exists()]
    finally:
        dst.close()
    assert proc.returncode == 1, proc
    assert "tap-uso" in proc.stderr and "host_uso" in proc.stderr, proc.stderr
    assert proc.stderr.startswith("vmplatform: error:"), proc.stderr
    # QEMU never ran: no monitor socket, no serial log, no TAP device.
    assert qemu_traces == [], qemu_traces
    timing("test_seconds", time.monotonic() - t0)
