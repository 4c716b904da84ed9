"""Our probe vs what a real QEMU 10 actually offers the guest on this host."""

from __future__ import annotations

import pytest

from tests.harness.qemu_offer import offered_bits, qemu_view, virtio_net_bits
from tests.harness.requirements import missing_qemu, missing_qmp_library, missing_root, missing_tun, skip_unless
from vmplatform.model.features import default_catalog
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.report import FeatureStatus
from vmplatform.probe.linux import LinuxProbe
from vmplatform.qemu.proc import find_qemu

pytestmark = pytest.mark.qemu


def _defaults() -> dict[str, str]:
    """virtio-net-device property defaults of the QEMU the snapshot came from."""
    return dict(default_machine_catalog().device_defaults["virtio-net-device"])


@pytest.mark.root
def test_probe_equals_qemu_offer_on_tap() -> None:
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library)
    cat = default_catalog()
    report = LinuxProbe().run(cat)
    bits = offered_bits(find_qemu())
    view = qemu_view(cat, bits, _defaults())
    assert {"tap-vnet-hdr", "tap-ufo", "tap-uso"} <= set(view)
    for fid, offered in view.items():
        probed = report.status(fid) is FeatureStatus.SUPPORTED
        assert probed == offered, f"{fid}: probe says {report.status(fid).value}, QEMU offers={offered}"


def test_user_netdev_offers_no_tap_offload() -> None:
    """The backend matters: -netdev user gets none of the TAP offloads whatever the kernel has."""
    skip_unless(missing_qemu, missing_qmp_library)
    cat = default_catalog()
    bits = offered_bits(find_qemu(), netdev="user")
    for fid in ("tap-vnet-hdr", "tap-ufo", "tap-uso"):
        assert not set(virtio_net_bits(cat.get(fid))) & bits, fid
