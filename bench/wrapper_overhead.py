"""Benchmark: what ``vmplatform qemu`` adds before QEMU starts.

Prints, side by side in one run (medians of -n runs, after a warm-up):

  1. Time to exec. ``vmplatform qemu --qemu-binary /bin/true ARGS -platform P``
     runs the whole front-end (interpreter start, imports, host probe with
     real ioctls, platform + machine catalog load, resolution) and then execs
     /bin/true instead of QEMU, so its wall time minus that of ``/bin/true
     ARGS`` is exactly what the front-end adds before exec. Shown next to a
     bare interpreter start (``python -c pass``, the floor for any Python
     front-end), ``--dry-run``, and ``--host REPORT`` (no probe).
  2. Where the time goes: the same steps timed inside one fresh interpreter.
  3. Time until QEMU's QMP socket appears: plain QEMU vs through the front-end
     (same argv, -S), with the ratio.
  4. With --e2e: wall time of the end-to-end tests (pytest tests/migration).

Target: the front-end adds at most 50 ms before exec.

Bytecode: by default the interpreters get a private PYTHONPYCACHEPREFIX and
may write bytecode (as an installed package has compiled .pyc files), and a
warm-up run fills the cache; --cold measures with PYTHONDONTWRITEBYTECODE=1
and no cache, i.e. compiling every vmplatform module on each start.

Run as root (the probe and the NIC use a TAP):
    .venv/bin/python bench/wrapper_overhead.py [-n 15] [--platform linux-6.1] [--cold] [--e2e]
"""

from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import median_ms  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0

PHASES = r"""
import sys, time
t = [("start", time.perf_counter())]
def mark(name): t.append((name, time.perf_counter()))
import vmplatform.cli.qemu
from vmplatform.qemu.frontend import rewrite
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.resolution.support import evaluate
from vmplatform.model.features import default_catalog
from vmplatform.probe.linux import LinuxProbe
mark("imports")
from vmplatform.qemu.binary import find_qemu
mark("import qemu_binary (find_qemu)")
platforms = load_platforms([])
mark("load platforms")
report = LinuxProbe().run(default_catalog())
mark("host probe (real ioctls, one TAP)")
mc = default_machine_catalog()
mark("load machine catalog")
rw = rewrite(sys.argv[1:], mc=mc, platforms=platforms, report=report)
mark("resolve + rewrite argv")
find_qemu(None)
mark("find_qemu")
for (_, a), (name, b) in zip(t, t[1:]):
    print(f"{name}\t{(b - a) * 1000:.2f}")
"""


def run(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, env=env, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def time_to_socket_ms(argv: list[str], sock: Path, env: dict[str, str]) -> float:
    """Start argv (which puts QMP on ``sock``), return ms until the socket exists, stop it."""
    sock.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not sock.exists():
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise SystemExit(f"{argv[0]} exited {proc.returncode} before opening QMP:\n{err}")
            time.sleep(0.0005)
        return (time.perf_counter() - t0) * 1000
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        sock.unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=15, help="runs per measurement (median)")
    ap.add_argument("--platform", default="linux-6.1")
    ap.add_argument("--qemu", default=os.environ.get("VMPLATFORM_QEMU") or shutil.which("qemu-system-x86_64"))
    ap.add_argument("--cold", action="store_true", help="no bytecode cache (PYTHONDONTWRITEBYTECODE=1)")
    ap.add_argument("--e2e", action="store_true", help="also time the end-to-end tests (pytest tests/migration)")
    ns = ap.parse_args()
    if ns.qemu is None:
        raise SystemExit("no qemu-system-x86_64 on PATH: pass --qemu")
    if os.geteuid() != 0:
        raise SystemExit("run as root: the probe and the benchmark NIC create TAP devices")

    py = sys.executable
    work = Path(tempfile.mkdtemp(prefix="vmp-bench-", dir="/tmp"))
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if ns.cold:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
        bytecode = "cold: no bytecode cache, every module compiled at each start"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        bytecode = f"warm: bytecode cached under {work / 'pycache'} (like an installed package)"

    qemu_args = ["-machine", "pc-q35-10.0,accel=tcg", "-nodefaults", "-display", "none", "-S",
                 "-netdev", "tap,id=n0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,id=net0",
                 "-netdev", "user,id=n1", "-device", "virtio-net-pci,netdev=n1,id=net1"]
    plat = ["-platform", ns.platform]
    script = Path(py).parent / "vmplatform"  # the console script users run (no runpy)
    front = [str(script), "qemu"] if script.exists() else [py, "-m", "vmplatform", "qemu"]
    report = work / "host.json"
    with open(report, "w") as fh:
        subprocess.run([py, "-m", "vmplatform", "probe", "--json"], env=env, check=True, stdout=fh)

    try:
        true = shutil.which("true") or "/bin/true"
        r_true = median_ms(lambda: run([true, *qemu_args], env), ns.n)
        r_bare = median_ms(lambda: run([py, "-c", "pass"], env), ns.n)
        r_exec = median_ms(lambda: run([*front, "--qemu-binary", true, *qemu_args, *plat], env), ns.n)
        r_host = median_ms(lambda: run([*front, "--host", str(report), "--qemu-binary", true,
                                        *qemu_args, *plat], env), ns.n)
        r_dry = median_ms(lambda: run([*front, "--dry-run", *qemu_args, *plat], env), ns.n)

        phases: dict[str, list[float]] = {}
        for _ in range(max(5, ns.n // 2)):
            out = subprocess.run([py, "-c", PHASES, *qemu_args, *plat], env=env, check=True,
                                 capture_output=True, text=True).stdout
            for line in out.splitlines():
                name, ms = line.split("\t")
                phases.setdefault(name, []).append(float(ms))

        sock = work / "qmp.sock"
        qmp = ["-qmp", f"unix:{sock},server=on,wait=off"]
        s_plain = median_ms(lambda: time_to_socket_ms([ns.qemu, *qemu_args, *qmp], sock, env), ns.n)
        s_front = median_ms(lambda: time_to_socket_ms(
            [*front, "--qemu-binary", ns.qemu, *qemu_args, *qmp, *plat], sock, env), ns.n)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    added = r_exec - r_true
    print(f"vmplatform qemu overhead, median of {ns.n} runs; -platform {ns.platform}; {bytecode}")
    print(f"python {sys.version.split()[0]} ({py}); QEMU {ns.qemu}; argv: 2 virtio-net NICs (tap + user)")
    print()
    print(f"{'1. start to exec':<58} {'median ms':>10}")
    print(f"{'  /bin/true ARGS (exec floor)':<58} {r_true:>10.1f}")
    print(f"{'  python -c pass (bare interpreter)':<58} {r_bare:>10.1f}")
    print(f"{'  vmplatform qemu ... -> exec /bin/true':<58} {r_exec:>10.1f}")
    print(f"{'  vmplatform qemu --host REPORT ... -> exec (no probe)':<58} {r_host:>10.1f}")
    print(f"{'  vmplatform qemu --dry-run ...':<58} {r_dry:>10.1f}")
    print(f"  added before exec: {added:.1f} ms = {r_exec / r_bare:.1f}x a bare interpreter start "
          f"({added - (r_bare - r_true):.1f} ms beyond it); target <= {TARGET_MS:.0f} ms: "
          f"{'MET' if added <= TARGET_MS else 'MISSED'} ({added / TARGET_MS:.2f}x the budget)")
    print()
    print(f"{'2. where the time goes (one fresh interpreter)':<58} {'median ms':>10}")
    total = 0.0
    for name, vals in phases.items():
        med = statistics.median(vals)
        total += med
        print(f"  {name:<56} {med:>10.1f}")
    print(f"  {'sum (interpreter start not included)':<56} {total:>10.1f}")
    print()
    print(f"{'3. start to QMP socket (QEMU -S)':<58} {'median ms':>10}")
    print(f"{'  plain QEMU':<58} {s_plain:>10.1f}")
    print(f"{'  through vmplatform qemu':<58} {s_front:>10.1f}")
    print(f"  ratio front-end / plain: {s_front / s_plain:.2f}x (+{s_front - s_plain:.1f} ms)")

    if ns.e2e:
        print()
        t0 = time.perf_counter()
        proc = subprocess.run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
                               "tests/migration"], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        print(f"4. end-to-end tests (pytest tests/migration): {wall:.1f} s wall, exit {proc.returncode}")
        for line in proc.stdout.splitlines():
            if " call " in line or line.startswith(("=", "FAILED", "ERROR")) or "passed" in line:
                print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
