"""virtio-net feature bits as the harness reads them: from QEMU and from the guest.

The bit table and the decoding of ``x-query-virtio-status`` (including the
repair of QEMU 10.0.2's GUEST_USO6 mislabel, and an error for any label it
does not know rather than a silently dropped bit) are the product's, in
:mod:`vmplatform.model.virtio_bits`; the harness only adds what is specific to the
tests: integer masks, the guest's sysfs bit string, and a small status record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vmplatform.model import virtio_bits
from vmplatform.model.virtio_bits import VIRTIO_NET_BITS, bits_to_mask, mask_to_bits

GUEST_USO4 = VIRTIO_NET_BITS["VIRTIO_NET_F_GUEST_USO4"]
GUEST_USO6 = VIRTIO_NET_BITS["VIRTIO_NET_F_GUEST_USO6"]
HOST_USO = VIRTIO_NET_BITS["VIRTIO_NET_F_HOST_USO"]
USO_BITS = (GUEST_USO4, GUEST_USO6, HOST_USO)


class FeatureDecodeError(ValueError):
    """A bit string from the guest the harness cannot map to bit numbers."""


def bits_of(mask: int) -> list[int]:
    """Set bits of ``mask``, ascending (readable in assertion messages)."""
    return sorted(mask_to_bits(mask))


def parse_sysfs_bitstring(bits: str) -> int:
    """Linux's /sys/bus/virtio/devices/*/features: one '0'/'1' per bit, bit 0 first."""
    if not bits or set(bits) - {"0", "1"}:
        raise FeatureDecodeError(f"not a virtio feature bit string: {bits!r}")
    return int(bits[::-1], 2)


def decode_status_features(features: Mapping[str, Any]) -> int:
    """One x-query-virtio-status VirtioDeviceFeatures object as an integer mask.

    Raises ValueError for a label the product's table does not know.
    """
    return bits_to_mask(virtio_bits.decode_status_features(features))


@dataclass(frozen=True)
class VirtioStatus:
    """The feature masks of one virtio device as QEMU reports them."""

    host_features: int  # offered by QEMU
    guest_features: int  # negotiated with the driver
    raw: Mapping[str, Any]

    @classmethod
    def from_qmp(cls, status: Mapping[str, Any]) -> VirtioStatus:
        return cls(
            host_features=decode_status_features(status["host-features"]),
            guest_features=decode_status_features(status["guest-features"]),
            raw=status,
        )
