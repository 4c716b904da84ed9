"""eBPF capability probe: can this process load a socket-filter program?

QEMU's virtio-net RSS steering program is a BPF_PROG_TYPE_SOCKET_FILTER with
array maps, attached with TUNSETSTEERINGEBPF (qemu ebpf/ebpf_rss.c). We create
one array map and load a two-instruction program of that type, then close
both: the same permission checks (CAP_BPF/CAP_SYS_ADMIN or
kernel.unprivileged_bpf_disabled) apply.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import os
import struct

from vmplatform.model.report import Evidence, FeatureStatus

# bpf(2) syscall numbers per architecture (arch syscall tables in the kernel).
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "s390x": 351, "ppc64le": 361, "riscv64": 280}
BPF_MAP_CREATE = 0
BPF_PROG_LOAD = 5
BPF_MAP_TYPE_ARRAY = 2
BPF_PROG_TYPE_SOCKET_FILTER = 1
_INSNS = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)  # r0 = 0; exit


def probe_socket_filter_load() -> tuple[FeatureStatus, Evidence]:
    """Load the probe program; returns the status and its evidence."""
    nr = _SYS_BPF.get(os.uname().machine)
    check = "bpf(BPF_MAP_CREATE array) + bpf(BPF_PROG_LOAD socket_filter)"
    if nr is None:
        return (FeatureStatus.UNKNOWN, Evidence(check, "no syscall number",
                                                       f"bpf syscall number unknown for {os.uname().machine}"))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def bpf(cmd: int, attr: bytes) -> tuple[int, int]:
        buf = ctypes.create_string_buffer(attr, 128)
        rc = libc.syscall(ctypes.c_long(nr), ctypes.c_long(cmd), buf, ctypes.c_uint(128))
        return int(rc), ctypes.get_errno()

    fd, err = bpf(BPF_MAP_CREATE, struct.pack("IIII", BPF_MAP_TYPE_ARRAY, 4, 4, 1))
    if fd < 0:
        return _classify(check, "BPF_MAP_CREATE", err)
    os.close(fd)
    insns = ctypes.create_string_buffer(_INSNS, len(_INSNS))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = struct.pack("IIQQIIQI", BPF_PROG_TYPE_SOCKET_FILTER, 2, ctypes.addressof(insns),
                       ctypes.addressof(lic), 0, 0, 0, 0)
    fd, err = bpf(BPF_PROG_LOAD, attr)
    if fd < 0:
        return _classify(check, "BPF_PROG_LOAD", err)
    os.close(fd)
    return (FeatureStatus.SUPPORTED, Evidence(check, "ok"))


def _classify(check: str, step: str, err: int) -> tuple[FeatureStatus, Evidence]:
    name = errno_mod.errorcode.get(err, str(err))
    if err == errno_mod.ENOSYS:
        return (FeatureStatus.UNSUPPORTED, Evidence(check, name, f"{step}: no bpf() syscall "
                                                           "(CONFIG_BPF_SYSCALL off)", err))
    if err in (errno_mod.EPERM, errno_mod.EACCES):
        return (FeatureStatus.UNSUPPORTED, Evidence(check, name, f"{step}: not permitted for this "
                                                           "process (needs CAP_BPF+CAP_NET_ADMIN or "
                                                           "CAP_SYS_ADMIN; see kernel.unprivileged_bpf_disabled)",
                                                           err))
    return (FeatureStatus.UNKNOWN, Evidence(check, name, f"{step} failed", err))
