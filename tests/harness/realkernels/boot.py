"""Boot a prepared kernel under QEMU TCG and read what its probe reported.

QEMU exits by itself (``poweroff -f`` with ``-no-reboot``; ``panic=-1`` turns
a crashed boot into an exit too); a boot that does neither within the time
bound is killed. The result channel is a file-backed second serial port, so
nothing on the host listens and nothing outlives the boot.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paths
from .kernel import PreparedKernel
from .payload import Payload, build_payload

BOOT_TIMEOUT_S = 300.0
APPEND = "console=ttyS0 panic=-1 quiet"


class BootError(RuntimeError):
    """The guest did not deliver its results; the message carries the console tail."""


@dataclass(frozen=True)
class BootResult:
    kernel: PreparedKernel
    outputs: dict[str, Any]              # run name -> parsed JSON (or None if unparsable)
    exit_codes: dict[str, int]
    stderr: dict[str, str]
    modules: dict[str, str]              # module -> "loaded" / "failed ..."
    nodes: dict[str, bool]
    uname: str
    uptime: dict[str, float]             # in-guest marks (s since kernel start)
    wall_s: float
    payload: Payload
    qemu_version: str
    console_tail: str = ""
    notes: list[str] = field(default_factory=list)


def qemu_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    first = out.splitlines()[0] if out else ""
    return first.split("version", 1)[-1].strip().split()[0] if "version" in first else first


def qemu_argv(binary: str, kernel: PreparedKernel, initrd: Path, console: Path, results: Path) -> list[str]:
    return [
        binary, "-machine", "q35,accel=tcg", "-m", "1024", "-smp", "1",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", str(kernel.directory / kernel.image), "-initrd", str(initrd), "-append", APPEND,
        "-serial", f"file:{console}", "-serial", f"file:{results}",
    ]


def parse_results(text: str) -> tuple[dict[str, str], dict[str, int], dict[str, str], dict[str, bool],
                                      str, dict[str, float], bool]:
    """(blocks, exit codes, modules, nodes, uname, uptime marks, done) from the result channel."""
    text = text.replace("\r\n", "\n")
    blocks: dict[str, str] = {}
    codes: dict[str, int] = {}
    modules: dict[str, str] = {}
    nodes: dict[str, bool] = {}
    uptime: dict[str, float] = {}
    uname, done = "", False
    current: str | None = None
    buf: list[str] = []
    for line in text.split("\n"):
        if current is not None:
            if line.startswith(f"VMP-END {current} "):
                blocks[current] = "\n".join(buf).strip()
                codes[current] = int(line.rsplit(" ", 1)[1])
                current, buf = None, []
            else:
                buf.append(line)
            continue
        tag, _, rest = line.partition(" ")
        if tag == "VMP-BEGIN":
            current = rest.strip()
        elif tag == "VMP-MODULE":
            name, _, state = rest.partition(" ")
            modules[name] = state
        elif tag == "VMP-NODE":
            node, _, state = rest.partition(" ")
            nodes[node] = state == "present"
        elif tag == "VMP-KERNEL":
            uname = rest
        elif tag == "VMP-UPTIME":
            mark, _, secs = rest.partition(" ")
            try:
                uptime[mark] = float(secs)
            except ValueError:
                pass
        elif tag == "VMP-DONE":
            done = True
    return blocks, codes, modules, nodes, uname, uptime, done


def boot(kernel: PreparedKernel, *, timeout: float = BOOT_TIMEOUT_S, qemu: str | None = None,
         keep: Path | None = None) -> BootResult:
    """Boot ``kernel`` with the probe payload; raise BootError if no complete result arrives."""
    binary = qemu or paths.qemu_binary() or "qemu-system-x86_64"
    payload = build_payload(kernel, kernel.directory)
    work = Path(tempfile.mkdtemp(prefix=f"vmp-boot-{kernel.release}-"))
    console, results = work / "console.log", work / "results.log"
    argv = qemu_argv(binary, kernel, payload.path, console, results)
    t0 = time.monotonic()
    try:
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, check=False)
            qemu_err = proc.stderr
        except subprocess.TimeoutExpired:
            qemu_err = f"killed after {timeout:.0f} s"
        wall = time.monotonic() - t0
        text = results.read_text(errors="replace") if results.exists() else ""
        tail = "\n".join(console.read_text(errors="replace").splitlines()[-25:]) if console.exists() else ""
        blocks, codes, modules, nodes, uname, uptime, done = parse_results(text)
        if not done:
            raise BootError(f"{kernel.spec.image_package}: no complete result after {wall:.1f} s "
                            f"(qemu: {qemu_err.strip()[-300:]})\n--- console ---\n{tail}")
        failed = {n: c for n, c in codes.items() if c != 0 and not n.endswith("-stderr")}
        if failed:
            raise BootError(f"{kernel.spec.image_package}: guest runs failed {failed}:\n"
                            + "\n".join(blocks.get(f"{n}-stderr", "")[-1500:] for n in failed))
        outputs: dict[str, Any] = {}
        for name, body in blocks.items():
            if name.endswith("-stderr"):
                continue
            try:
                outputs[name] = json.loads(body)
            except json.JSONDecodeError:
                outputs[name] = None
        stderr = {n[:-len("-stderr")]: b for n, b in blocks.items() if n.endswith("-stderr")}
        return BootResult(kernel, outputs, {n: c for n, c in codes.items() if not n.endswith("-stderr")},
                          stderr, modules, nodes, uname, uptime, round(wall, 2), payload, qemu_version(binary),
                          tail)
    finally:
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for f in (console, results):
                if f.exists():
                    shutil.copy(f, keep / f"{kernel.spec.abi}.{f.name}")
        shutil.rmtree(work, ignore_errors=True)
