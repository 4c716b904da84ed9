"""Benchmark: our host probe vs launching QEMU to learn the same facts.

Prints, side by side in one run:
  1. in-process: LinuxProbe().run(catalog) vs start QEMU + x-query-virtio-status + quit
  2. whole process: `vmplatform probe --json` vs a bare start of the same interpreter
     (`python -c pass`, the floor for any Python CLI) vs the QEMU-launch probe.

Run as root (the probe creates a TAP): .venv/bin/python bench/probe_vs_qemu.py [-n 15]
"""

from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
_REPO = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
_sys.path.insert(0, _REPO)  # tests.harness.qemu_offer: the anchor lives with the tests
import argparse
import os
import subprocess
import sys

from _timing import median_ms  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=15)
    ns = ap.parse_args()

    from tests.harness.qemu_offer import offered_bits
    from vmplatform.model.features import default_catalog
    from vmplatform.probe.linux import LinuxProbe
    from vmplatform.qemu.proc import find_qemu

    cat = default_catalog()
    qemu = find_qemu()
    probe = median_ms(lambda: LinuxProbe().run(cat), ns.n)
    launch = median_ms(lambda: offered_bits(qemu), ns.n)
    py = sys.executable
    script = os.path.join(os.path.dirname(py), "vmplatform")  # the console script users run
    cmd = [script] if os.path.exists(script) else [py, "-m", "vmplatform"]
    cli = median_ms(lambda: subprocess.run([*cmd, "probe", "--json"], check=True,
                                           stdout=subprocess.DEVNULL), ns.n)
    bare = median_ms(lambda: subprocess.run([py, "-c", "pass"], check=True), ns.n)
    launch_proc = median_ms(lambda: subprocess.run(
        [py, "-c", f"from tests.harness.qemu_offer import offered_bits; offered_bits({qemu!r})"], check=True,
        cwd=_REPO), ns.n)

    print(f"host probe benchmark, median of {ns.n} runs, {len(cat)} catalog features, QEMU {qemu}")
    print(f"{'what':<46} {'median ms':>10}")
    print(f"{'in-process LinuxProbe().run()':<46} {probe:>10.2f}")
    print(f"{'in-process QEMU launch + x-query-virtio-status':<46} {launch:>10.2f}")
    print(f"  ratio probe / QEMU launch: {probe / launch:.3f}x")
    print(f"{'process: vmplatform probe --json':<46} {cli:>10.2f}")
    print(f"{'process: python -c pass (bare interpreter)':<46} {bare:>10.2f}")
    print(f"{'process: python + QEMU launch probe':<46} {launch_proc:>10.2f}")
    print(f"  ratio probe process / QEMU launch process: {cli / launch_proc:.3f}x (target <= 0.1x)")
    print(f"  ratio probe process / bare interpreter:    {cli / bare:.3f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
