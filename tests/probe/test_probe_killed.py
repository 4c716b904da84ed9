"""The probe killed at random points leaves nothing behind (bench/reliability.py does 200+)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.requirements import missing_root, missing_tun, skip_unless
from tests.harness.residue import kill_probes

pytestmark = pytest.mark.root


def test_sigkill_at_random_points_leaves_no_residue(tmp_path: Path) -> None:
    skip_unless(missing_root, missing_tun)
    killed, residue = kill_probes(30, tmp_path, seed=3)
    assert killed >= 10, f"only {killed} of 30 probes were still running when killed: the test proves little"
    assert residue == []


def test_a_probe_child_that_hangs_is_killed_within_its_bound() -> None:
    """The unprivileged probe's namespace child has a time bound; past it, it is killed, not waited for."""
    import errno
    import os
    import time

    import pytest

    from vmplatform.probe.userns import run_in_user_netns

    def hang() -> dict[str, object]:
        time.sleep(60)
        return {}

    t0 = time.monotonic()
    with pytest.raises(OSError) as err:
        run_in_user_netns(hang, timeout=1.0)
    assert time.monotonic() - t0 < 10
    if err.value.errno != errno.ETIMEDOUT:   # no user namespaces here: the child never ran fn
        pytest.skip(f"no user namespace could be made: {err.value}")
    assert "no answer within 1 s" in str(err.value)
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_sleeping_child(p)]


def _is_sleeping_child(pid: str) -> bool:
    import os

    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except (OSError, ValueError, IndexError):
        return False
