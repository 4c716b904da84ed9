"""What a killed probe could leave behind, and killing it at random points.

The probe owns, while it runs: a non-persistent TAP (vmpprobe*), a forked
child in a user + network namespace when it lacks CAP_NET_ADMIN, BPF maps and
programs held by fds, vhost and KVM fds, and the cache file it writes last.
A SIGKILL must leave none of them: the kernel frees what fds hold; what is
named (network interfaces, files, namespaces bound in /run/netns, processes)
is compared before and after.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROBE_TAP_PREFIX = "vmpprobe"  # probe/linux.py names its TAP so


@dataclass(frozen=True)
class Snapshot:
    links: frozenset[str]
    files: frozenset[str]
    netns_bound: frozenset[str]
    net_namespaces: frozenset[int]

    @classmethod
    def take(cls, dirs: tuple[Path, ...]) -> Snapshot:
        files = set()
        for d in dirs:
            if d.is_dir():
                files |= {str(p) for p in d.rglob("*")}
        try:
            bound = frozenset(os.listdir("/run/netns"))
        except OSError:
            bound = frozenset()
        return cls(frozenset(os.listdir("/sys/class/net")), frozenset(files), bound, _net_namespaces())

    def left_since(self, before: Snapshot) -> list[str]:
        out = [f"interface {n}" for n in sorted(self.links - before.links)]
        out += [f"file {f}" for f in sorted(self.files - before.files)]
        out += [f"bound netns {n}" for n in sorted(self.netns_bound - before.netns_bound)]
        out += [f"net namespace {n}" for n in sorted(self.net_namespaces - before.net_namespaces)]
        return out


def _net_namespaces() -> frozenset[int]:
    seen = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                seen.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
            except OSError:
                continue
    return frozenset(seen)


def kill_probes(count: int, runtime_dir: Path, seed: int = 1) -> tuple[int, list[str]]:
    """Start ``vmplatform probe --json`` ``count`` times, SIGKILL each after a random delay.

    The delays spread over what one whole probe takes on this machine at this moment (timed first,
    unkilled), so the kills land all along the probe however fast or loaded the machine is.

    Returns (how many were killed before they finished, residue found after all).
    Net namespaces of unrelated processes come and go on a busy machine, so only
    interfaces, files and bound namespaces count, plus net namespaces still held by
    a process the probe started.
    """
    rng = random.Random(seed)
    env = {**os.environ, "VMPLATFORM_RUNTIME_DIR": str(runtime_dir)}
    argv = [sys.executable, "-m", "vmplatform", "probe", "--json"]
    before = Snapshot.take((runtime_dir,))
    t0 = time.monotonic()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    max_delay = 0.9 * (time.monotonic() - t0)
    killed = 0
    for _ in range(count):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(0, max_delay))
        if proc.poll() is None:
            killed += 1
            os.killpg(proc.pid, signal.SIGKILL)  # the whole session: a forked namespace child too
        proc.wait()
    time.sleep(0.2)  # the kernel unregisters a TAP after the last fd closes (RCU)
    after = Snapshot.take((runtime_dir,))
    # Only the probe's own interfaces: other tests on a shared machine create TAPs too.
    residue = [r for r in after.left_since(before)
               if not r.startswith("net namespace") and not (r.startswith("interface ") and
                                                              not r.startswith(f"interface {PROBE_TAP_PREFIX}"))]
    residue += [f"net namespace {n}" for n in _held_by_strays()]
    # The last probe's cache file is the probe's product, not residue.
    residue = [r for r in residue if not (r.startswith("file ") and r.endswith(".json"))]
    return killed, residue


def _held_by_strays() -> list[int]:
    """Net namespaces held by a leftover probe process (one whose command line is the probe's)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"vmplatform" in cmd and b"probe" in cmd:
                out.append(os.stat(f"/proc/{pid}/ns/net").st_ino)
        except OSError:
            continue
    return out
