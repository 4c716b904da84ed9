"""Start-up of the commands on every VM start, next to the floors they cannot beat.

Prints, side by side in one run (medians of -n runs, warm page cache), each with its target:
  * a bare interpreter start (the venv's python -c pass), the floor of any Python command;
  * the libvirt hook on a pass-through event (``stopped end``): 1.5x the bare start;
  * the hook on ``prepare begin`` for a domain with a manifest (probe from the per-boot cache, as on
    a host whose boot ran ``vmplatform probe``; this host decides from the manifest alone when it
    lacks a feature, and compares the domain XML with its pins when it can run it, shown on a
    second row with a host report that has every feature): 2x the bare start;
  * ``vmplatform probe --json`` next to its floor: a bare interpreter that creates and tears
    down one TAP with raw ioctls: 2x the floor;
  * for reference, what the standard library alone costs on these paths: a bare start that
    imports json (every path reads or writes JSON), and one that also imports dataclasses (the
    model's records).

With --instructions, each command also runs once under valgrind's callgrind and its user-space
instruction count is shown with its ratio: unlike wall time, it does not depend on what else the
machine runs (the floor's TAP teardown is kernel time, so the probe's ratio there reads higher).

Run as root (TAPs): .venv/bin/python bench/startup.py [-n 21] [--instructions]
"""

from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from _timing import median_ms  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAW_TAP = ("import fcntl, os, struct; fd = os.open('/dev/net/tun', os.O_RDWR); "
           "fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH22x', b'vmpfloor%d', 0x0002 | 0x1000 | 0x4000)); "
           "os.close(fd)")


class Command:
    """One command line of the comparison, with its input and environment."""

    def __init__(self, argv: list[str], stdin: bytes, env: dict[str, str]) -> None:
        self.argv, self.stdin, self.env = argv, stdin, env

    def run(self) -> None:
        subprocess.run(self.argv, input=self.stdin, env=self.env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def instructions(self) -> int:
        """User-space instructions executed (valgrind's callgrind): the same on an idle and on a loaded
        machine, unlike wall time. The kernel's share (the TAP teardown of the floor) is not counted."""
        proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *self.argv],
                              input=self.stdin, env=self.env, capture_output=True)
        m = re.search(rb"Collected : (\d+)", proc.stderr)
        if m is None:
            raise SystemExit(f"valgrind counted nothing for {self.argv}: {proc.stderr[-300:].decode(errors='replace')}")
        return int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=21)
    ap.add_argument("--instructions", action="store_true",
                    help="also count each command's user-space instructions under valgrind (needs valgrind)")
    ns = ap.parse_args()
    bindir = Path(sys.executable).parent
    hook, cli = str(bindir / "vmplatform-libvirt-hook"), str(bindir / "vmplatform")

    from vmplatform.libvirt.metadata import with_manifest
    from vmplatform.resolution.manifest import loads

    data = ROOT / "tests" / "data"
    manifest = loads((data / "manifests" / "debian13-6.12-default.json").read_text())
    pinned = with_manifest((data / "domains" / "tiny-tcg.xml").read_text(), manifest, "tiny-tcg.xml").encode()
    plain = (data / "domains" / "web1-kvm.xml").read_bytes()
    runtime = tempfile.mkdtemp(prefix="vmplatform-bench-")
    # An installed package has its bytecode compiled; a child that may not cache it would measure compiling.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["VMPLATFORM_RUNTIME_DIR"] = runtime
    subprocess.run([cli, "probe", "--json"], env=env, stdout=subprocess.DEVNULL, check=True)  # fills the cache

    full = str(data / "hosts" / "debian13-6.12.json")  # a host with every feature the manifest names

    def run(argv: list[str], stdin: bytes = b"", extra: dict[str, str] | None = None) -> Command:
        return Command(argv, stdin, {**env, **(extra or {})})

    bare, floor = "bare interpreter (python -c pass)", "floor: interpreter + one raw TAP create/teardown"
    # (name, command, base row, target ratio)
    rows: list[tuple[str, Command, str | None, float | None]] = [
        (bare, run([sys.executable, "-c", "pass"]), None, None),
        ("hook, pass-through event (stopped end)", run([hook, "web1", "stopped", "end", "-"], plain), bare, 1.5),
        ("hook, prepare begin (manifest, cached probe)", run([hook, "vmp-tiny", "prepare", "begin", "-"], pinned),
         bare, 2.0),
        ("hook, prepare begin (admitted: XML vs pins)",
         run([hook, "vmp-tiny", "prepare", "begin", "-"], pinned, {"VMPLATFORM_HOST_REPORT": full}), bare, 2.0),
        (floor, run([sys.executable, "-c", RAW_TAP]), None, None),
        ("vmplatform probe --json", run([cli, "probe", "--json"]), floor, 2.0),
        ("reference: python -c 'import json'", run([sys.executable, "-c", "import json"]), bare, None),
        ("reference: python -c 'import json, dataclasses'",
         run([sys.executable, "-c", "import json, dataclasses"]), bare, None),
    ]
    t = {name: median_ms(cmd.run, ns.n) for name, cmd, _, _ in rows}
    if ns.instructions:
        # valgrind preloads its own library, and LD_PRELOAD is part of the probe cache's key: without a
        # cache filled under valgrind, the counted hook would probe instead of reading the cache
        run([cli, "probe", "--json"]).instructions()
    ir = {name: cmd.instructions() for name, cmd, _, _ in rows} if ns.instructions else {}
    print(f"{'':<52} {'median':>9}  {'ratio':<11} {'target':<13}" + ("  instructions  ratio" if ir else ""))
    for name, _, base, target in rows:
        ratio = "" if base is None else f"{t[name] / t[base]:4.2f}x {'floor' if base == floor else 'bare'}"
        verdict = "" if target is None or base is None else \
            f"{target:.1f}x: {'met' if t[name] / t[base] <= target else 'MISSED'}"
        line = f"{name:<52} {t[name]:7.1f} ms  {ratio:<11} {verdict:<13}"
        if ir:
            line += f"  {ir[name] / 1e6:7.1f} M" + ("" if base is None else f"     {ir[name] / ir[base]:4.2f}x")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
