"""The probe killed at random points leaves nothing behind (bench/reliability.py does 200+)."""

from __future__ import annotations

from pathlib import Path

from tests.harness.requirements import missing_root, missing_tun, skip_unless
from tests.harness.residue import kill_probes


def test_sigkill_at_random_points_leaves_no_residue(tmp_path: Path) -> None:
    skip_unless(missing_root, missing_tun)
    killed, residue = kill_probes(30, tmp_path, seed=3)
    assert killed >= 10, f"only {killed} of 30 probes were still running when killed: the test proves little"
    assert residue == []
