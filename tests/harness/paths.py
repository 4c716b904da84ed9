"""Where the harness finds the guest kernel, QEMU and its build cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_GUEST_DIR = Path("/var/cache/vmplatform/guest")


def guest_dir() -> Path:
    """The directory scripts/fetch-guest-kernel unpacks the guest kernel into."""
    return Path(os.environ.get("VMPLATFORM_GUEST_DIR") or DEFAULT_GUEST_DIR)


def build_cache_dir() -> Path:
    """Harness build products (initramfs, shim) live next to the kernel they fit."""
    return guest_dir() / "harness"


def kernel_image() -> Path:
    return guest_dir() / "vmlinuz"


def qemu_binary() -> str | None:
    """VMPLATFORM_QEMU if set, else qemu-system-x86_64 from PATH (None if absent)."""
    configured = os.environ.get("VMPLATFORM_QEMU")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("qemu-system-x86_64")


BUSYBOX = Path(os.environ.get("VMPLATFORM_BUSYBOX") or "/bin/busybox")
