"""virtio-net feature bits: the harness's own table, and the two ways to read them.

x-query-virtio-status returns decoded strings, not numbers, and QEMU 10.0.2
labels GUEST_USO6 as "VIRTIO_NET_F_GUEST_USO4: Driver can receive USOv6";
so the decoding below is by name with that one label repaired from its
description, and any string the table does not know is an error rather than
a silently dropped bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Bit numbers from Linux include/uapi/linux/virtio_net.h and virtio_config.h.
FEATURE_BITS: Mapping[str, int] = {
    "VIRTIO_NET_F_CSUM": 0,
    "VIRTIO_NET_F_GUEST_CSUM": 1,
    "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS": 2,
    "VIRTIO_NET_F_MTU": 3,
    "VIRTIO_NET_F_MAC": 5,
    "VIRTIO_NET_F_GSO": 6,
    "VIRTIO_NET_F_GUEST_TSO4": 7,
    "VIRTIO_NET_F_GUEST_TSO6": 8,
    "VIRTIO_NET_F_GUEST_ECN": 9,
    "VIRTIO_NET_F_GUEST_UFO": 10,
    "VIRTIO_NET_F_HOST_TSO4": 11,
    "VIRTIO_NET_F_HOST_TSO6": 12,
    "VIRTIO_NET_F_HOST_ECN": 13,
    "VIRTIO_NET_F_HOST_UFO": 14,
    "VIRTIO_NET_F_MRG_RXBUF": 15,
    "VIRTIO_NET_F_STATUS": 16,
    "VIRTIO_NET_F_CTRL_VQ": 17,
    "VIRTIO_NET_F_CTRL_RX": 18,
    "VIRTIO_NET_F_CTRL_VLAN": 19,
    "VIRTIO_NET_F_CTRL_RX_EXTRA": 20,
    "VIRTIO_NET_F_GUEST_ANNOUNCE": 21,
    "VIRTIO_NET_F_MQ": 22,
    "VIRTIO_NET_F_CTRL_MAC_ADDR": 23,
    "VIRTIO_F_NOTIFY_ON_EMPTY": 24,
    "VIRTIO_F_ANY_LAYOUT": 27,
    "VIRTIO_RING_F_INDIRECT_DESC": 28,
    "VIRTIO_RING_F_EVENT_IDX": 29,
    "VHOST_USER_F_PROTOCOL_FEATURES": 30,
    "VIRTIO_F_VERSION_1": 32,
    "VIRTIO_F_IOMMU_PLATFORM": 33,
    "VIRTIO_F_ACCESS_PLATFORM": 33,
    "VIRTIO_F_RING_PACKED": 34,
    "VIRTIO_F_IN_ORDER": 35,
    "VIRTIO_F_ORDER_PLATFORM": 36,
    "VIRTIO_F_SR_IOV": 37,
    "VIRTIO_F_NOTIFICATION_DATA": 38,
    "VIRTIO_F_NOTIF_CONFIG_DATA": 39,
    "VIRTIO_F_RING_RESET": 40,
    "VIRTIO_F_ADMIN_VQ": 41,
    "VIRTIO_NET_F_DEVICE_STATS": 50,
    "VIRTIO_NET_F_VQ_NOTF_COAL": 52,
    "VIRTIO_NET_F_NOTF_COAL": 53,
    "VIRTIO_NET_F_GUEST_USO4": 54,
    "VIRTIO_NET_F_GUEST_USO6": 55,
    "VIRTIO_NET_F_HOST_USO": 56,
    "VIRTIO_NET_F_HASH_REPORT": 57,
    "VIRTIO_NET_F_GUEST_HDRLEN": 59,
    "VIRTIO_NET_F_RSS": 60,
    "VIRTIO_NET_F_RSC_EXT": 61,
    "VIRTIO_NET_F_STANDBY": 62,
    "VIRTIO_NET_F_SPEED_DUPLEX": 63,
}

GUEST_USO4 = FEATURE_BITS["VIRTIO_NET_F_GUEST_USO4"]
GUEST_USO6 = FEATURE_BITS["VIRTIO_NET_F_GUEST_USO6"]
HOST_USO = FEATURE_BITS["VIRTIO_NET_F_HOST_USO"]
USO_BITS = (GUEST_USO4, GUEST_USO6, HOST_USO)


class FeatureDecodeError(ValueError):
    """A feature string or bit string the harness cannot map to bit numbers."""


def bits_of(mask: int) -> list[int]:
    return [b for b in range(mask.bit_length()) if mask >> b & 1]


def parse_sysfs_bitstring(bits: str) -> int:
    """Linux's /sys/bus/virtio/devices/*/features: one '0'/'1' per bit, bit 0 first."""
    if not bits or set(bits) - {"0", "1"}:
        raise FeatureDecodeError(f"not a virtio feature bit string: {bits!r}")
    return int(bits[::-1], 2)


def _bit_of_label(label: str) -> int:
    name, _, description = label.partition(":")
    name = name.strip()
    # QEMU 10.0.2 hw/virtio/virtio-qmp.c mislabels GUEST_USO6 (fixed in 10.2).
    if name == "VIRTIO_NET_F_GUEST_USO4" and "USOv6" in description:
        return GUEST_USO6
    try:
        return FEATURE_BITS[name]
    except KeyError:
        raise FeatureDecodeError(f"unknown virtio feature label {label!r}") from None


def decode_status_features(features: Mapping[str, Any]) -> int:
    """Turn one x-query-virtio-status VirtioDeviceFeatures object into a mask."""
    mask = 0
    labels: Iterable[Any] = [*features.get("transports", []), *features.get("dev-features", [])]
    for label in labels:
        mask |= 1 << _bit_of_label(str(label))
    unknown = features.get("unknown-dev-features")
    if isinstance(unknown, int):
        mask |= unknown
    return mask


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
