"""scripts/real-kernels: boot Debian kernels under QEMU TCG with this checkout's probe inside.

    scripts/real-kernels --all                 # the whole matrix, reports into tests/data/kernels
    scripts/real-kernels 6.17.13+deb13-amd64   # one kernel of the matrix
    scripts/real-kernels 6.6.0-1-amd64@trixie  # any ABI-named image package, with its suite
    scripts/real-kernels --table               # the kernel x feature table of the checked-in reports
    scripts/real-kernels --this-host           # this host's own reports (root, and as nobody)
                                               # into tests/data/probed as DISTRO-X.Y-{root,unprivileged}.json

Nothing is installed on the host: packages are fetched with ``apt-get download``
through a temporary sources file (see apt.py) and unpacked into a cache
directory (default /var/cache/vmplatform/real-kernels).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .apt import AptError
from .boot import BOOT_TIMEOUT_S, BootError, BootResult, boot
from .kernel import KernelUnavailable, PreparedKernel, prepare_all
from .matrix import DATA_DIR, MATRIX, REPORT_SCHEMA, find_spec, load_records
from .table import README, render_table, update_readme

DEFAULT_CACHE = Path("/var/cache/vmplatform/real-kernels")
PROBED_DIR = DATA_DIR.parent / "probed"


def write_record(result: BootResult, out: Path) -> Path:
    k: PreparedKernel = result.kernel
    d = out / k.spec.abi
    d.mkdir(parents=True, exist_ok=True)
    meta = {
        "schema": REPORT_SCHEMA,
        "abi": k.spec.abi,
        "package": k.spec.image_package,
        "package-version": k.package_version,
        "packages": k.packages,
        "suite": k.spec.suite,
        "debian-release": k.spec.debian_release,
        "kernel-release": k.release,
        "uname-v": result.uname.split(" ", 1)[1] if " " in result.uname else "",
        "config": k.config,
        "modules": result.modules,
        "device-nodes": result.nodes,
        "boot": {
            "qemu": result.qemu_version, "accel": "tcg", "machine": "q35", "image": k.image_format,
            "wall-s": result.wall_s, "guest-uptime-s": result.uptime, "initramfs-bytes": result.payload.size,
        },
    }
    (d / "kernel.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    names = {"probe": "host-report.json", "query-platforms": "query-platforms.json",
             "probe-unprivileged": "host-report-unprivileged.json",
             "probe-tun-only": "host-report-tun-only.json"}
    for run, fname in names.items():
        if result.outputs.get(run) is not None:
            (d / fname).write_text(json.dumps(result.outputs[run], indent=2) + "\n", encoding="utf-8")
    return d


def this_host(out: Path) -> int:
    """Probe this host as root and as nobody (the way tests/data/probed/README.md describes)."""
    exe = [sys.executable, "-m", "vmplatform"]
    env = {**os.environ, "VMPLATFORM_NO_PROBE_CACHE": "1"}
    root = subprocess.run([*exe, "probe", "--json"], capture_output=True, text=True, env=env, check=False)
    if root.returncode != 0 or os.geteuid() != 0:
        print(f"real-kernels: the root probe needs root: {root.stderr.strip()}", file=sys.stderr)
        return 1
    src = str(Path(__file__).resolve().parents[3] / "src")
    nobody = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *exe, "probe", "--json"],
        capture_output=True, text=True, env={**env, "PYTHONPATH": src, "HOME": "/nonexistent"}, check=False)
    if nobody.returncode != 0:
        print(f"real-kernels: the probe as nobody failed: {nobody.stderr.strip()[-500:]}", file=sys.stderr)
        return 1
    osr = json.loads(root.stdout)["host"]["os-release"]
    series = ".".join(os.uname().release.split("-")[0].split(".")[:2])
    base = f"{osr.get('ID', 'linux')}{osr.get('VERSION_ID', '')}-{series}"
    out.mkdir(parents=True, exist_ok=True)
    for suffix, text in (("root", root.stdout), ("unprivileged", nobody.stdout)):
        path = out / f"{base}-{suffix}.json"
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/real-kernels", description=__doc__.split("\n")[0])
    p.add_argument("kernels", nargs="*", help="ABI (matrix), linux-image-ABI or ABI@SUITE")
    p.add_argument("--all", action="store_true", help="every kernel of the matrix")
    p.add_argument("--ci", action="store_true", help="the kernels the test suite boots")
    p.add_argument("--out", type=Path, default=DATA_DIR, help=f"report directory (default {DATA_DIR})")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="unpacked kernels (default %(default)s)")
    p.add_argument("--timeout", type=float, default=BOOT_TIMEOUT_S, help="seconds per boot (default %(default)s)")
    p.add_argument("--keep-logs", type=Path, help="copy each boot's console and result logs here")
    p.add_argument("--table", action="store_true", help="print the kernel x feature table of --out")
    p.add_argument("--update-readme", action="store_true", help="write that table into README.md")
    p.add_argument("--this-host", action="store_true", help="probe this host as root and as nobody")
    p.add_argument("--hosts-out", type=Path, default=PROBED_DIR, help="where --this-host writes (default %(default)s)")
    ns = p.parse_args(argv)
    try:
        specs = [find_spec(k) for k in ns.kernels]
    except ValueError as err:
        p.error(str(err))
    specs += [e.spec for e in MATRIX if ns.all or (ns.ci and e.ci)]
    if not specs and not (ns.table or ns.update_readme or ns.this_host):
        p.error("name kernels, or use --all, --ci, --table, --update-readme or --this-host")
    rc = 0
    if ns.this_host:
        rc |= this_host(ns.hosts_out)
    if specs:
        t0 = time.monotonic()
        try:
            prepared = prepare_all(list(dict.fromkeys(specs)), ns.cache)
        except AptError as err:
            print(f"real-kernels: {err}", file=sys.stderr)
            return 1
        print(f"prepared {len(prepared)} kernel(s) in {time.monotonic() - t0:.1f} s", flush=True)
        for k in prepared:
            if isinstance(k, KernelUnavailable):
                print(f"  not bootable: {k}", flush=True)
                continue
            try:
                result = boot(k, timeout=ns.timeout, keep=ns.keep_logs)
            except BootError as err:
                print(f"  FAILED {k.spec.abi}: {err}", file=sys.stderr)
                rc = 1
                continue
            d = write_record(result, ns.out)
            marks = " ".join(f"{m}={s:.1f}" for m, s in result.uptime.items())
            print(f"  {k.spec.image_package} {k.package_version} ({k.spec.suite}): {result.wall_s:.1f} s "
                  f"[{k.image_format}; guest uptime {marks}] -> {d}", flush=True)
    if ns.table or ns.update_readme:
        table = render_table(load_records(ns.out))
        if ns.update_readme:
            update_readme(README, table)
            print(f"updated {README}")
        else:
            print(table)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
