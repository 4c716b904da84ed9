"""The initramfs that runs this checkout's own probe inside a real kernel.

It holds busybox (the shell and insmod), the kernel's modules, the host's
Python interpreter with the shared libraries it links and only the standard
library files the probe imports (found by running the probe and
``query-platforms`` on this host and reading ``sys.modules``), and the
vmplatform package itself. Byte code is compiled ahead as unchecked-hash
``.pyc`` files: the archive carries no modification times, so timestamp-based
``.pyc`` files would be recompiled in the guest at every boot (seconds under TCG).

Results leave the guest on the second serial port (``/dev/ttyS1``), framed by
the tags below; the console (``ttyS0``) stays a plain boot log.
"""

from __future__ import annotations

import hashlib
import json
import os
import py_compile
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..initramfs import _Entry, write_newc
from .kernel import PreparedKernel, devname_line

PAYLOAD_FORMAT = 1
GUEST_PYTHONPATH = "/opt/vmplatform"
NOBODY = 65534

# Runs (name, vmplatform arguments, as nobody?) in the guest, in this order.
GUEST_RUNS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("probe", ("probe", "--json"), False),
    ("query-platforms", ("query-platforms", "--json"), False),
    ("probe-unprivileged", ("probe", "--json"), True),
)

# Drop to nobody, then exec: a process that changed its uid stays non-dumpable
# (its /proc/self files root-owned, so no user namespace) until it execs.
_AS_NOBODY = f"""import os, sys
os.setgroups([])
os.setgid({NOBODY})
os.setuid({NOBODY})
os.execv(sys.executable, [sys.executable, "-S", "-m", "vmplatform", *sys.argv[1:]])
"""

_TRACE = """import contextlib, io, json, os, runpy, sys
os.environ["VMPLATFORM_NO_PROBE_CACHE"] = "1"
for argv in ({runs}):
    sys.argv = ["vmplatform", *argv]
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            runpy.run_module("vmplatform", run_name="__main__", alter_sys=True)
        except SystemExit:
            pass
# Roads not taken as root on a host with every module loaded: the user namespace
# (ctypes), BPF, and autoloading an absent device's module (tempfile, shutil).
import ctypes, shutil, tempfile, vmplatform.probe.userns, vmplatform.probe.bpf, vmplatform.probe.modules
print(json.dumps(sorted({{getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}})))
"""


def _init_script(kernel: PreparedKernel) -> str:
    runs = []
    for name, args, nobody in GUEST_RUNS:
        launcher = "/opt/as-nobody.py" if nobody else "-m vmplatform"
        runs.append(f"run {name} $PY {launcher} {' '.join(args)}")
    return f"""#!/bin/busybox sh
# PID 1 of the real-kernel probe guest. Boot log on ttyS0, results on ttyS1.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run /tmp
hostname "$(cat /etc/hostname)"
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1
say() {{ echo "$*" >&3; }}
up() {{ say "VMP-UPTIME $1 $(cut -d' ' -f1 /proc/uptime)"; }}
load() {{
    while read -r m; do
        [ -n "$m" ] || continue
        if out=$(insmod "/lib/modules/$m.ko" 2>&1); then say "VMP-MODULE $m loaded"
        else say "VMP-MODULE $m failed $out"; fi
    done < "$1"
    # The permissions systemd-udev's default rules (50-udev-default.rules) give these
    # nodes, so the unprivileged probe meets what it meets on a distribution host.
    chmod 0666 /dev/net/tun /dev/vhost-net /dev/vhost-vsock /dev/kvm 2>/dev/null
}}
run() {{
    name=$1
    shift
    "$@" > /run/out 2> /run/err
    rc=$?
    say "VMP-BEGIN $name"
    cat /run/out >&3
    say ""
    say "VMP-END $name $rc"
    if [ -s /run/err ]; then
        say "VMP-BEGIN $name-stderr"
        cat /run/err >&3
        say ""
        say "VMP-END $name-stderr 0"
    fi
    up "$name"
}}
export PYTHONHOME=/usr PYTHONPATH={GUEST_PYTHONPATH} VMPLATFORM_NO_PROBE_CACHE=1 PYTHONDONTWRITEBYTECODE=1
export VMPLATFORM_CACHE_DIR=/tmp/cache HOME=/tmp
PY="/usr/bin/{Path(_python()).name} -S"
up booted
say "VMP-KERNEL $(uname -r) $(uname -v)"
# First only TUN: the host before anyone loads vhost_net, vhost_vsock or kvm_amd
# (no modprobe here, so nothing autoloads either).
load /etc/modules.base
run probe-tun-only $PY -m vmplatform probe --json
load /etc/modules.list
up modules
for n in /dev/net/tun /dev/vhost-net /dev/vhost-vsock /dev/kvm; do
    [ -e "$n" ] && say "VMP-NODE $n present" || say "VMP-NODE $n absent"
done
{chr(10).join(runs)}
say "VMP-DONE"
poweroff -f
"""


def _os_release(kernel: PreparedKernel) -> str:
    rel, code = kernel.spec.debian_release, kernel.spec.codename
    return (f'PRETTY_NAME="Debian GNU/Linux {rel} ({code})"\nNAME="Debian GNU/Linux"\nVERSION_ID="{rel}"\n'
            f'VERSION="{rel} ({code})"\nVERSION_CODENAME={code}\nID=debian\n')


def _python() -> str:
    """The real interpreter behind this (venv) Python."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def package_dir() -> Path:
    import vmplatform

    return Path(vmplatform.__file__).resolve().parent


def _traced_files() -> list[Path]:
    """Standard-library files the guest runs import, as seen running them here."""
    runs = ", ".join(repr(list(args)) for _, args, _ in GUEST_RUNS)
    with tempfile.TemporaryDirectory(prefix="vmp-trace-") as empty:
        # An empty data-file cache, as in the guest: the TOML parser must be traced too.
        env = {**os.environ, "PYTHONPATH": str(package_dir().parent), "PYTHONDONTWRITEBYTECODE": "1",
               "VMPLATFORM_CACHE_DIR": empty, "VMPLATFORM_RUNTIME_DIR": empty}
        proc = subprocess.run([_python(), "-S", "-c", _TRACE.format(runs=runs)], capture_output=True,
                              text=True, env=env, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"tracing the probe's imports failed: {proc.stderr[-800:]}")
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    files = {Path(f).resolve() for f in json.loads(proc.stdout.splitlines()[-1]) if f}
    # Python finds its prefix by these landmarks.
    files |= {stdlib / "os.py", stdlib / "encodings" / "__init__.py"}
    return sorted(f for f in files if f.is_relative_to(stdlib) and f.exists())


def _ldd(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(/\S+)\s+\(0x", line)
        if m:
            libs.append(Path(m.group(1)))
    return libs


def _unchecked_pyc(source: Path, target_root: Path, guest_path: str) -> tuple[str, bytes]:
    """(guest path, bytes) of an unchecked-hash .pyc for ``source`` shown in the guest as ``guest_path``."""
    gp = Path(guest_path)
    tag = sys.implementation.cache_tag
    pyc_guest = gp.parent / "__pycache__" / f"{gp.stem}.{tag}.pyc"
    out = target_root / pyc_guest.relative_to("/")
    out.parent.mkdir(parents=True, exist_ok=True)
    py_compile.compile(str(source), cfile=str(out), dfile=guest_path, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return str(pyc_guest), out.read_bytes()


@dataclass(frozen=True)
class Payload:
    path: Path
    files: int
    size: int


def _file_entries(kernel: PreparedKernel) -> dict[str, tuple[int, bytes]]:
    """guest path -> (mode, bytes) of every regular file in the archive."""
    files: dict[str, tuple[int, bytes]] = {}
    reg, exe = stat.S_IFREG | 0o644, stat.S_IFREG | 0o755

    def add(guest: str, data: bytes, mode: int = reg) -> None:
        files[guest] = (mode, data)

    add("/init", _init_script(kernel).encode(), exe)
    add("/bin/busybox", paths.BUSYBOX.read_bytes(), exe)
    add("/etc/os-release", _os_release(kernel).encode())
    add("/etc/hostname", f"{kernel.spec.image_package}\n".encode())
    base = kernel.modules[:kernel.modules.index("tun") + 1] if "tun" in kernel.modules else ()
    add("/etc/modules.base", "".join(f"{m}\n" for m in base).encode())
    add("/etc/modules.list", "".join(f"{m}\n" for m in kernel.modules[len(base):]).encode())
    add("/opt/as-nobody.py", _AS_NOBODY.encode(), exe)
    devnames = ["# Device nodes to trigger on-demand module loading."]
    for m in kernel.modules:
        blob = (kernel.directory / "modules" / f"{m}.ko").read_bytes()
        add(f"/lib/modules/{m}.ko", blob)
        line = devname_line(m, blob)
        if line:
            devnames.append(line)
    # What depmod would have written at install time (the packages ship no modules.* index),
    # for the modules this archive carries: the probe reads it to tell "not loaded" from
    # "not built". There is no /sbin/modprobe, so opening such a node cannot load the module.
    add(f"/lib/modules/{kernel.release}/modules.devname", ("\n".join(devnames) + "\n").encode())
    python = Path(_python())
    add(str(python), python.read_bytes(), exe)
    binaries = [python]
    with tempfile.TemporaryDirectory(prefix="vmp-pyc-") as tmp:
        root = Path(tmp)
        for f in _traced_files():
            add(str(f), f.read_bytes(), exe if f.suffix == ".so" else reg)
            if f.suffix == ".py":
                add(*_unchecked_pyc(f, root, str(f)))
            elif f.suffix == ".so":
                binaries.append(f)
        pkg = package_dir()
        for f in sorted(pkg.rglob("*")):
            if not f.is_file() or "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            guest = f"{GUEST_PYTHONPATH}/vmplatform/{f.relative_to(pkg)}"
            add(guest, f.read_bytes())
            if f.suffix == ".py":
                add(*_unchecked_pyc(f, root, guest))
    for b in binaries:
        for lib in _ldd(b):
            add(str(lib), Path(os.path.realpath(lib)).read_bytes(), exe)
    return files


def build_payload(kernel: PreparedKernel, cache: Path) -> Payload:
    """The initramfs for ``kernel`` (cached by the hash of its contents)."""
    files = _file_entries(kernel)
    dirs = sorted({str(p) for g in files for p in Path(g).parents if str(p) != "/"} | {
        "/dev", "/proc", "/sys", "/run", "/tmp"})
    entries = [_Entry(d.lstrip("/"), stat.S_IFDIR | 0o755) for d in dirs]
    entries.append(_Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    entries += [_Entry(g.lstrip("/"), mode, data) for g, (mode, data) in sorted(files.items())]
    digest = hashlib.sha256(str(PAYLOAD_FORMAT).encode())
    for e in entries:
        digest.update(f"{e.name}\0{e.mode}\0{len(e.data)}\0".encode())
        digest.update(e.data)
    # Uncompressed: decompressing megabytes in an emulated CPU costs seconds per boot.
    target = cache / f"initramfs-{digest.hexdigest()[:16]}.cpio"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=".initramfs-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(write_newc(entries))
        os.replace(tmp, target)
        # Keep one archive per kernel directory: older ones are stale.
        for old in cache.glob("initramfs-*.cpio*"):
            if old != target:
                old.unlink(missing_ok=True)
    return Payload(target, len(files), target.stat().st_size)


def clean(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
