"""Plain QEMU 10 reproduces the USO live-migration break on one machine.

Source: a normal QEMU on this host (kernel >= 6.2, TAP accepts USO), so the
6.12 guest negotiates GUEST_USO4/GUEST_USO6/HOST_USO. Destination: the same
command line under an LD_PRELOAD shim that makes TUNSETOFFLOAD reject USO as
Linux < 6.2 does, so QEMU silently offers no USO. The source then reports
the migration "completed" while the destination refuses the device state and
exits: the failure vmplatform exists to catch before a migration starts.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.harness import requirements
from tests.migration.conftest import Timing

pytest.importorskip("qemu.qmp", reason="Python package qemu.qmp is not installed (pip install qemu.qmp)")

from tests.harness.guest import Guest  # noqa: E402 - needs qemu.qmp
from tests.harness.migration import migrate  # noqa: E402
from tests.harness.shim import build_uso_shim  # noqa: E402
from tests.harness.virtio import USO_BITS, bits_of  # noqa: E402

pytestmark = pytest.mark.guest


def _has_all(mask: int, bits: tuple[int, ...]) -> bool:
    return all(mask >> b & 1 for b in bits)


def _has_none(mask: int, bits: tuple[int, ...]) -> bool:
    return not any(mask >> b & 1 for b in bits)


def test_uso_guest_migrated_to_host_without_uso_fails_on_destination(timing: Timing) -> None:
    requirements.require_guest_and_shim()
    shim = build_uso_shim()
    t0 = time.monotonic()
    with Guest("src") as src, Guest("dst", incoming_defer=True, preload=[shim]) as dst:
        timing("boot_seconds", src.wait_ready())

        # The guest kernel and QEMU agree on what was negotiated, and it includes USO.
        negotiated = src.virtio_status().guest_features
        assert src.serial_features() == negotiated
        assert _has_all(negotiated, USO_BITS), f"guest did not negotiate USO: bits {bits_of(negotiated)}"

        # The shim made the destination an "old host": USO silently not offered.
        offered_by_dst = dst.virtio_status().host_features
        assert _has_none(offered_by_dst, USO_BITS), f"shim not effective: dst offers {bits_of(offered_by_dst)}"

        result = migrate(src, dst)

        # The source believes all went well and has stopped the guest...
        assert result.status == "completed", result.info
        assert src.qmp.execute_dict("query-status")["status"] == "postmigrate"
        # ...but the destination rejected the virtio-net state and quit.
        exit_code = dst.wait_exit(timeout=30)
        stderr = dst.stderr_text()
        assert exit_code not in (None, 0), f"destination still running or exited 0; stderr:\n{stderr}"
        assert "Features 0x" in stderr and "unsupported" in stderr, stderr
        assert "Failed to load virtio-net" in stderr, stderr
        m = re.search(r"Features 0x([0-9a-f]+) unsupported\. Allowed features: 0x([0-9a-f]+)", stderr)
        assert m, stderr
        assert int(m.group(1), 16) == negotiated
        assert int(m.group(2), 16) == offered_by_dst
        # Exactly the USO bits are what the destination could not accept.
        assert bits_of(negotiated & ~offered_by_dst) == sorted(USO_BITS)
    timing("test_seconds", time.monotonic() - t0)


def test_plain_to_plain_migration_keeps_guest_running(timing: Timing) -> None:
    """Control: the same migration without the shim succeeds and the guest
    keeps ticking on the destination, so the failure above is USO's doing."""
    requirements.require_guest()
    t0 = time.monotonic()
    with Guest("src") as src, Guest("dst", incoming_defer=True) as dst:
        timing("boot_seconds", src.wait_ready())
        src.wait_for_serial(r"^VMP-TICK 1$", timeout=30)
        result = migrate(src, dst)
        assert result.status == "completed", result.info
        last_on_src = src.last_tick()
        assert last_on_src is not None
        assert dst.qmp.execute_dict("query-status")["status"] == "running"
        # The counter lives in guest memory: ticks on the destination continue it.
        match = dst.wait_for_serial(r"^VMP-TICK (\d+)$", timeout=30)
        assert int(match.group(1)) > last_on_src
        assert _has_all(dst.virtio_status().guest_features, USO_BITS)
    timing("test_seconds", time.monotonic() - t0)
