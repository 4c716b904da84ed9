"""Under the USO shim ("a host whose kernel lacks TAP USO"), the probe and QEMU
still agree on every catalog TAP feature.

Both run with the same LD_PRELOAD: ``vmplatform probe --json`` in its own
process (the shim only reaches a freshly started process), and a real QEMU
asked over QMP what it offers a guest on a TAP backend. This is what makes
the shim a faithful stand-in for an old host in the end-to-end tests: the
probe of a shimmed process sees exactly the host QEMU sees.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.harness.cli import probe_report
from tests.harness.qemu_offer import offered_bits, qemu_view
from tests.harness.requirements import (
    missing_gcc,
    missing_qemu,
    missing_qmp_library,
    missing_root,
    missing_tun,
    skip_unless,
)
from tests.harness.shim import build_uso_shim, preload_env
from vmplatform.model.features import default_catalog
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.report import FeatureStatus
from vmplatform.qemu.proc import find_qemu

pytestmark = [pytest.mark.qemu, pytest.mark.root]


def test_probe_equals_qemu_offer_under_uso_shim(tmp_path: Path) -> None:
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library, missing_gcc)
    shim = build_uso_shim()
    cat = default_catalog()
    report = probe_report(tmp_path / "shimmed.json", preload=[shim])
    bits = offered_bits(find_qemu(), env=preload_env([shim]))
    view = qemu_view(cat, bits, dict(default_machine_catalog().device_defaults["virtio-net-device"]))

    assert {"tap-vnet-hdr", "tap-ufo", "tap-uso"} <= set(view)
    for fid, offered in view.items():
        probed = report.status(fid) is FeatureStatus.SUPPORTED
        assert probed == offered, f"{fid}: probe says {report.status(fid).value}, QEMU offers={offered}"

    # The shim takes away USO, and only USO.
    assert view["tap-uso"] is False
    assert report.status("tap-uso") is FeatureStatus.UNSUPPORTED
    assert "EINVAL" in report.reason("tap-uso")
    for fid in ("tap-vnet-hdr", "tap-ufo"):
        assert view[fid] is True, fid
        assert report.status(fid) is FeatureStatus.SUPPORTED, fid


def test_shim_is_scoped_to_the_preloaded_process(tmp_path: Path) -> None:
    """Control: the same QEMU and probe without the shim see USO (a >= 6.2
    host), so the agreement above is about the shim, not about this kernel."""
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library)
    if os.environ.get("LD_PRELOAD"):
        pytest.skip("LD_PRELOAD is set for the test run itself")
    report = probe_report(tmp_path / "plain.json")
    if report.status("tap-uso") is not FeatureStatus.SUPPORTED:
        pytest.skip(f"this kernel lacks TAP USO ({report.reason('tap-uso')}): the shim changes nothing")
    cat = default_catalog()
    view = qemu_view(cat, offered_bits(find_qemu()),
                     dict(default_machine_catalog().device_defaults["virtio-net-device"]))
    assert view["tap-uso"] is True
