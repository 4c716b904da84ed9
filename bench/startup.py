"""Start-up of the commands on every VM start, next to the floors they cannot beat.

Prints, side by side in one run (medians of -n runs, warm page cache):
  * a bare interpreter start (the venv's python -c pass), the floor of any Python command;
  * the libvirt hook on a pass-through event (``stopped end``), and on ``prepare begin`` for a
    domain with a manifest (probe from the per-boot cache, as on a host whose boot ran
    ``vmplatform probe``), each as a ratio of the bare start (targets: 1.5x and 2x);
  * ``vmplatform probe --json`` next to its floor: a bare interpreter that creates and tears
    down one TAP with raw ioctls (target: 2x).

Run as root (TAPs): .venv/bin/python bench/startup.py [-n 21]
"""

from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import argparse  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from _timing import median_ms  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAW_TAP = ("import fcntl, os, struct; fd = os.open('/dev/net/tun', os.O_RDWR); "
           "fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH22x', b'vmpfloor%d', 0x0002 | 0x1000 | 0x4000)); "
           "os.close(fd)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=21)
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
    env = {**os.environ, "VMPLATFORM_RUNTIME_DIR": runtime}
    subprocess.run([cli, "probe", "--json"], env=env, stdout=subprocess.DEVNULL, check=True)  # fills the cache

    def run(argv: list[str], stdin: bytes = b"") -> object:
        return lambda: subprocess.run(argv, input=stdin, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)

    rows = [
        ("bare interpreter (python -c pass)", run([sys.executable, "-c", "pass"])),
        ("hook, pass-through event (stopped end)", run([hook, "web1", "stopped", "end", "-"], plain)),
        ("hook, prepare begin (manifest, cached probe)", run([hook, "vmp-tiny", "prepare", "begin", "-"], pinned)),
        ("floor: interpreter + one raw TAP create/teardown", run([sys.executable, "-c", RAW_TAP])),
        ("vmplatform probe --json", run([cli, "probe", "--json"])),
    ]
    t = {name: median_ms(fn, ns.n) for name, fn in rows}  # type: ignore[arg-type]
    bare, floor = t[rows[0][0]], t[rows[3][0]]
    print(f"{'':<50} {'median':>9}  ratio")
    for name, _ in rows:
        base = floor if "probe --json" in name else bare
        against = "floor" if base is floor else "bare"
        ratio = "" if name in (rows[0][0], rows[3][0]) else f"{t[name] / base:5.2f}x of {against}"
        print(f"{name:<50} {t[name]:7.1f} ms  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
