"""Which QEMU binary to run. Kept apart from qemu_proc (asyncio) so the
front-end can find QEMU without paying for an asyncio import."""

from __future__ import annotations

import os

from .errors import QemuError

QEMU_ENV = "VMPLATFORM_QEMU"


def find_qemu(explicit: str | None = None) -> str:
    """``explicit``, else $VMPLATFORM_QEMU, else qemu-system-x86_64 on PATH."""
    cand = explicit or os.environ.get(QEMU_ENV) or "qemu-system-x86_64"
    path = _which(cand)
    if path is None:
        raise QemuError(f"QEMU binary '{cand}' not found",
                        "install qemu-system-x86 (Debian: apt-get install -t bookworm-backports "
                        "qemu-system-x86) or pass --qemu-binary / set VMPLATFORM_QEMU")
    return path


def _which(name: str) -> str | None:
    """shutil.which without importing shutil (start-up time of the front-end)."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        cand = os.path.join(d or ".", name)
        if os.access(cand, os.X_OK) and not os.path.isdir(cand):
            return cand
    return None
