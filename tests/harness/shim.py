"""Compile the USO-rejecting LD_PRELOAD shim (shim.c) on demand, cached by hash."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import paths

SHIM_SOURCE = Path(__file__).with_name("shim.c")


class ShimBuildError(RuntimeError):
    """gcc is missing or failed; the message carries its output."""


def gcc_binary() -> str | None:
    return shutil.which(os.environ.get("CC") or "gcc")


def build_uso_shim(cache_dir: Path | None = None) -> Path:
    """Return the path of the compiled shim, building it if the source changed."""
    cache = cache_dir or paths.build_cache_dir()
    source = SHIM_SOURCE.read_bytes()
    target = cache / f"uso-shim-{hashlib.sha256(source).hexdigest()[:16]}.so"
    if target.exists():
        return target
    gcc = gcc_binary()
    if gcc is None:
        raise ShimBuildError("gcc not found on PATH: install gcc (and libc6-dev) to build the USO shim")
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=".uso-shim-", suffix=".so")
    os.close(fd)
    try:
        proc = subprocess.run(
            [gcc, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", tmp, str(SHIM_SOURCE), "-ldl"],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise ShimBuildError(f"gcc failed to build {SHIM_SOURCE} ({proc.returncode}):\n{proc.stderr}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def preload_env(preload: Sequence[Path] = (), base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with ``preload`` put first in LD_PRELOAD."""
    env = dict(os.environ if base is None else base)
    if preload:
        env["LD_PRELOAD"] = ":".join(
            [str(p) for p in preload] + ([env["LD_PRELOAD"]] if env.get("LD_PRELOAD") else [])
        )
    return env
