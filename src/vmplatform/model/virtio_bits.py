"""Virtio feature bits, and decoding of QEMU's ``x-query-virtio-status``.

QEMU returns features as labels ("VIRTIO_NET_F_HOST_USO: Device can receive
USO"), grouped into ``transports`` / ``dev-features``, with only unknown bits
numeric. We keep our own table because labels are not reliable: QEMU 10.0.2
labels VIRTIO_NET_F_GUEST_USO6 as "VIRTIO_NET_F_GUEST_USO4: Driver can receive
USOv6" (hw/virtio/virtio-qmp.c), fixed in 10.2.

Bit numbers: include/uapi/linux/virtio_net.h, virtio_config.h, virtio_ring.h
(Linux), as mirrored in QEMU's include/standard-headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

VIRTIO_NET_BITS: dict[str, int] = {
    "VIRTIO_NET_F_CSUM": 0, "VIRTIO_NET_F_GUEST_CSUM": 1, "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS": 2,
    "VIRTIO_NET_F_MTU": 3, "VIRTIO_NET_F_MAC": 5, "VIRTIO_NET_F_GSO": 6, "VIRTIO_NET_F_GUEST_TSO4": 7,
    "VIRTIO_NET_F_GUEST_TSO6": 8, "VIRTIO_NET_F_GUEST_ECN": 9, "VIRTIO_NET_F_GUEST_UFO": 10,
    "VIRTIO_NET_F_HOST_TSO4": 11, "VIRTIO_NET_F_HOST_TSO6": 12, "VIRTIO_NET_F_HOST_ECN": 13,
    "VIRTIO_NET_F_HOST_UFO": 14, "VIRTIO_NET_F_MRG_RXBUF": 15, "VIRTIO_NET_F_STATUS": 16,
    "VIRTIO_NET_F_CTRL_VQ": 17, "VIRTIO_NET_F_CTRL_RX": 18, "VIRTIO_NET_F_CTRL_VLAN": 19,
    "VIRTIO_NET_F_CTRL_RX_EXTRA": 20, "VIRTIO_NET_F_GUEST_ANNOUNCE": 21, "VIRTIO_NET_F_MQ": 22,
    "VIRTIO_NET_F_CTRL_MAC_ADDR": 23, "VIRTIO_NET_F_DEVICE_STATS": 50, "VIRTIO_NET_F_VQ_NOTF_COAL": 52,
    "VIRTIO_NET_F_NOTF_COAL": 53, "VIRTIO_NET_F_GUEST_USO4": 54, "VIRTIO_NET_F_GUEST_USO6": 55,
    "VIRTIO_NET_F_HOST_USO": 56, "VIRTIO_NET_F_HASH_REPORT": 57, "VIRTIO_NET_F_GUEST_HDRLEN": 59,
    "VIRTIO_NET_F_RSS": 60, "VIRTIO_NET_F_RSC_EXT": 61, "VIRTIO_NET_F_STANDBY": 62,
    "VIRTIO_NET_F_SPEED_DUPLEX": 63, "VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO": 65,
    "VIRTIO_NET_F_GUEST_UDP_TUNNEL_GSO_CSUM": 66, "VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO": 67,
    "VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO_CSUM": 68,
}

TRANSPORT_BITS: dict[str, int] = {
    "VIRTIO_F_NOTIFY_ON_EMPTY": 24, "VIRTIO_F_ANY_LAYOUT": 27, "VIRTIO_RING_F_INDIRECT_DESC": 28,
    "VIRTIO_RING_F_EVENT_IDX": 29, "VHOST_USER_F_PROTOCOL_FEATURES": 30, "VIRTIO_F_BAD_FEATURE": 30,
    "VIRTIO_F_VERSION_1": 32, "VIRTIO_F_IOMMU_PLATFORM": 33, "VIRTIO_F_ACCESS_PLATFORM": 33,
    "VIRTIO_F_RING_PACKED": 34, "VIRTIO_F_IN_ORDER": 35, "VIRTIO_F_ORDER_PLATFORM": 36,
    "VIRTIO_F_SR_IOV": 37, "VIRTIO_F_NOTIFICATION_DATA": 38, "VIRTIO_F_NOTIF_CONFIG_DATA": 39,
    "VIRTIO_F_RING_RESET": 40, "VIRTIO_F_ADMIN_VQ": 41,
}

_ALL = {**VIRTIO_NET_BITS, **TRANSPORT_BITS}


def label_bit(label: str) -> int | None:
    """Bit of one QEMU label, correcting the 10.0 GUEST_USO6 mislabel."""
    name, _, desc = label.partition(":")
    name = name.strip()
    if name == "VIRTIO_NET_F_GUEST_USO4" and "USOv6" in desc:
        return VIRTIO_NET_BITS["VIRTIO_NET_F_GUEST_USO6"]
    return _ALL.get(name)


def decode_status_features(features: Mapping[str, Any]) -> set[int]:
    """Bits of one ``host-features`` / ``guest-features`` object from x-query-virtio-status."""
    bits: set[int] = set()
    for group in ("transports", "dev-features"):
        for label in features.get(group, []) or []:
            bit = label_bit(str(label))
            if bit is None:
                raise ValueError(f"unknown virtio feature label {label!r}")
            bits.add(bit)
    unknown = features.get("unknown-dev-features")
    if isinstance(unknown, int):
        bits |= {b for b in range(128) if unknown >> b & 1}
    return bits


def bits_to_mask(bits: Iterable[int]) -> int:
    mask = 0
    for b in bits:
        mask |= 1 << b
    return mask


def mask_to_bits(mask: int) -> set[int]:
    return {b for b in range(mask.bit_length()) if mask >> b & 1}
