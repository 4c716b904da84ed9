"""virtio-iommu ``granule`` and virtio-mem ``block-size``: pinned from the platform, read back from a real QEMU.

QEMU 10 sizes both from the host (``granule=host`` -> the host page mask,
``block-size`` -> the host's THP size). Started through the front-end with
``-S``, the values QEMU holds are read back with ``qom-get``: they are the
platform's, not this host's.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from tests.harness.requirements import missing_qemu, missing_qmp_library, skip_unless
from vmplatform.qemu.proc import QemuProcess, find_qemu

pytestmark = pytest.mark.qemu

MiB = 1024 * 1024


async def _read_back(platform: str) -> tuple[object, object]:
    args = ["-m", "vmplatform", "qemu", "--qemu-binary", find_qemu(), "-platform", platform,
            "-machine", "pc-q35-10.0,accel=tcg", "-nodefaults", "-display", "none", "-S",
            "-m", "512M,slots=2,maxmem=2G", "-object", "memory-backend-ram,id=mem0,size=512M",
            "-device", "virtio-iommu-pci,id=iommu0", "-device", "virtio-mem-pci,memdev=mem0,id=vmem0"]
    q = QemuProcess(sys.executable, args, env=dict(os.environ))
    async with q:
        granule = await q.qmp.execute("qom-get", {"path": "/machine/peripheral/iommu0", "property": "granule"})
        block = await q.qmp.execute("qom-get", {"path": "/machine/peripheral/vmem0", "property": "block-size"})
    return granule, block


@pytest.mark.parametrize(("platform", "block_size"), [
    ("linux-debian-13", 2 * MiB),   # Debian's config has THP: 2 MiB whatever this host has
    ("linux-6.12", 1 * MiB),        # upstream Kconfig defaults have no THP: QEMU's 1 MiB minimum
])
def test_platform_decides_granule_and_block_size(platform: str, block_size: int) -> None:
    skip_unless(missing_qemu, missing_qmp_library)
    granule, block = asyncio.run(_read_back(platform))
    assert granule == "4k"
    assert block == block_size
