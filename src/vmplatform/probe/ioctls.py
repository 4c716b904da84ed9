"""Linux ioctl numbers and flags used by the probe.

Sources: include/uapi/linux/if_tun.h, include/uapi/linux/vhost.h,
include/uapi/linux/kvm.h (request codes computed with the _IO/_IOR/_IOW
macros for x86_64 / arm64 / s390x, which share the generic encoding).
"""

from __future__ import annotations


def _ioc(direction: int, kind: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (kind << 8) | nr


def _io(kind: int, nr: int) -> int:
    return _ioc(0, kind, nr, 0)


def _ior(kind: int, nr: int, size: int) -> int:
    return _ioc(2, kind, nr, size)


def _iow(kind: int, nr: int, size: int) -> int:
    return _ioc(1, kind, nr, size)


T = ord("T")
TUNSETIFF = _iow(T, 202, 4)            # 0x400454ca
TUNGETFEATURES = _ior(T, 207, 4)       # 0x800454cf
TUNSETOFFLOAD = _iow(T, 208, 4)        # 0x400454d0
TUNGETIFF = _ior(T, 210, 4)            # 0x800454d2
TUNSETSTEERINGEBPF = _ior(T, 224, 4)   # 0x800454e0

IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFF_MULTI_QUEUE = 0x0100
IFF_NAPI = 0x0010
IFF_NAPI_FRAGS = 0x0020

VHOST = 0xAF
VHOST_GET_FEATURES = _ior(VHOST, 0x00, 8)   # 0x8008af00
VHOST_SET_OWNER = _io(VHOST, 0x01)          # 0xaf01

KVMIO = 0xAE
KVM_CREATE_VM = _io(KVMIO, 0x01)            # 0xae01
KVM_CHECK_EXTENSION = _io(KVMIO, 0x03)      # 0xae03

