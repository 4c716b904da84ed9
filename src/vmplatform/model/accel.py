"""QEMU's accelerators: which one a VM runs under.

One enum for every layer: the VM model records it, resolution applies KVM-only
properties when it is KVM, and support decides whether KVM-only host features
matter for it. Kept in its own module so the hook's manifest reader can use it
without the VM model.
"""

from __future__ import annotations

import enum

from vmplatform.errors import UsageError


class Accel(enum.Enum):
    """QEMU's accelerators (``-accel help``); the value is QEMU's name."""

    KVM = "kvm"
    TCG = "tcg"
    XEN = "xen"
    HVF = "hvf"
    WHPX = "whpx"
    NVMM = "nvmm"
    QTEST = "qtest"

    @classmethod
    def parse(cls, text: str) -> Accel:
        """``kvm``, ``kvm:tcg`` (the first is what runs when it is available)."""
        name = text.split(":")[0].strip().lower()
        try:
            return cls(name)
        except ValueError:
            raise UsageError(f"unknown accelerator '{text}'",
                             "QEMU knows " + ", ".join(a.value for a in cls)) from None
