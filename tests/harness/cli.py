"""Run the ``vmplatform`` command line as a separate process, as a user would.

A subprocess rather than the in-process ``main()``: the real-guest tests need
the CLI's ioctls to go through an LD_PRELOAD shim, which only a new process
can load.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from vmplatform.model.report import HostReport, loads

from .shim import preload_env


def run_vmplatform(args: Sequence[str], *, preload: Sequence[Path] = (),
                   timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``python -m vmplatform ARGS`` with this interpreter; never raises on exit status."""
    return subprocess.run(
        [sys.executable, "-m", "vmplatform", *args], env=preload_env(preload),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
    )


def probe_report(target: Path, *, preload: Sequence[Path] = ()) -> HostReport:
    """``vmplatform probe --json`` (under ``preload``) written to ``target``; returns it loaded."""
    proc = run_vmplatform(["probe", "--json"], preload=preload)
    if proc.returncode != 0:
        raise RuntimeError(f"vmplatform probe --json exited {proc.returncode}:\n{proc.stderr}")
    target.write_text(proc.stdout, encoding="utf-8")
    return loads(proc.stdout, str(target))
