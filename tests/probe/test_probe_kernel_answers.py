"""The probe's reading of each answer a kernel can give, with the kernel replaced by a fake.

tests/real/test_probe_real.py runs the probe against this machine's kernel, which gives one
answer per question. The other answers real kernels give are played here by a fake kernel
(``FakeKernel``: open(2) and ioctl(2) as the probe calls them), each with its source:

- no CONFIG_TUN: /dev/net/tun does not exist (ENOENT);
- /dev/net/tun mode 0600 as a user: EACCES (Debian's default is 0666);
- TUNSETIFF without CAP_NET_ADMIN: EPERM (drivers/net/tun.c tun_set_iff(): ns_capable(CAP_NET_ADMIN));
- TUNSETOFFLOAD with a flag the kernel does not know: EINVAL (tun.c set_offload() ends
  ``if (arg) return -EINVAL``); TUN_F_USO4/6 are known from Linux 6.2, TUN_F_UDP_TUNNEL_GSO from 6.17;
- TUNSETSTEERINGEBPF before Linux 4.16: unknown ioctl, EINVAL from tun_chr_ioctl()'s default case;
- TUNGETFEATURES: IFF_MULTI_QUEUE is reported from Linux 3.8 (TUN_FEATURES in tun.c);
- VHOST_GET_FEATURES: a u64 bit mask; VIRTIO_F_RING_RESET is bit 40 (vhost-net from Linux 6.3),
  VIRTIO_VSOCK_F_SEQPACKET bit 1 (vhost-vsock from Linux 5.14);
- KVM_CHECK_EXTENSION returns 0 for a capability not offered, > 0 when offered (Documentation/
  virt/kvm/api.rst 4.4); no /dev/kvm without the kvm module (ENOENT); /dev/kvm 0660 root:kvm
  for a user outside group kvm (EACCES).
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import vmplatform
from vmplatform.model.features import default_catalog
from vmplatform.model.report import Evidence, FeatureStatus, HostReport
from vmplatform.probe import bpf, linux, userns
from vmplatform.probe import ioctls as K

CATALOG = default_catalog()
# The answers real Debian kernels gave (tests/data/kernels/*/host-report.json, evidence outcomes):
# TUNGETFEATURES 0x7173 on 6.1 and 6.12 (IFF_TUN|IFF_TAP|IFF_NAPI|IFF_NAPI_FRAGS|IFF_MULTI_QUEUE|
# IFF_NO_PI|IFF_ONE_QUEUE|IFF_VNET_HDR); VHOST_GET_FEATURES of vhost-net 0x33d008000 on 6.1 and
# 0x1033d008000 on 6.12 (bit 40, ring reset, added), of vhost-vsock 0x33d000002 on both.
TUN_FEATURES_6_8 = 0x7173
TUN_FEATURES_3_7 = TUN_FEATURES_6_8 & ~(K.IFF_MULTI_QUEUE | K.IFF_NAPI | K.IFF_NAPI_FRAGS)
VHOST_NET_6_1, VHOST_NET_6_12, VHOST_VSOCK = 0x33d008000, 0x1033d008000, 0x33d000002
# TUN_F_* flags set_offload() accepts: up to 6.1, from 6.2 (USO), from 6.17 (UDP tunnel GSO)
OFFLOADS_6_1 = 0x1F
OFFLOADS_6_8 = OFFLOADS_6_1 | 0x20 | 0x40
OFFLOADS_6_17 = OFFLOADS_6_8 | 0x80 | 0x100


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@dataclass
class FakeKernel:
    tun_open: int | None = None                 # errno of open(/dev/net/tun), None: it opens
    tun_features: int | None = TUN_FEATURES_6_8  # None: TUNGETFEATURES fails with ENOTTY
    setiff: int | None = None                   # errno of TUNSETIFF
    offloads: int = OFFLOADS_6_8
    offload_errno: int | None = None            # any other TUNSETOFFLOAD failure
    steering: int | None = None                 # errno of TUNSETSTEERINGEBPF
    devices: dict[str, int | None | list[int | None]] = field(default_factory=lambda: {
        "/dev/vhost-net": None, "/dev/vhost-vsock": None, "/dev/kvm": None})  # errno of open, None: opens
    vhost: dict[str, int | None] = field(default_factory=lambda: {
        "/dev/vhost-net": VHOST_NET_6_12, "/dev/vhost-vsock": VHOST_VSOCK})      # None: GET_FEATURES fails
    create_vm: int | None = None                # errno of KVM_CREATE_VM
    caps: dict[int, int] = field(default_factory=lambda: {117: 1, 167: 1, 60: 1})
    check_errno: int | None = None
    page_size: int | Exception = 4096
    thp: bytes | int = b"2097152\n"              # file bytes, or the errno of opening it
    euid: int = 0
    fds: dict[int, str] = field(default_factory=dict)
    offload_calls: list[int] = field(default_factory=list)
    taps: list[str] = field(default_factory=list)
    _next: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    # -- os ---------------------------------------------------------------------
    def open(self, path: str, flags: int, *mode: int) -> int:
        # as QEMU opens them (net/tap-linux.c tap_open, hw/virtio/vhost-backend, accel/kvm): read-write
        assert flags == os.O_RDWR | os.O_CLOEXEC, (path, flags)
        code = self.tun_open if path == "/dev/net/tun" else self.devices.get(path, errno.ENOENT)
        if isinstance(code, list):   # one answer per open: the node appears once its module is loaded
            code = code.pop(0)
        if code is not None:
            raise _err(code)
        fd = next(self._next)
        self.fds[fd] = path
        return fd

    def close(self, fd: int) -> None:
        del self.fds[fd]

    def sysconf(self, name: str) -> int:
        assert name == "SC_PAGESIZE"
        if isinstance(self.page_size, Exception):
            raise self.page_size
        return self.page_size

    def geteuid(self) -> int:
        return self.euid

    # -- ioctl ------------------------------------------------------------------
    def ioctl(self, fd: int, request: int, arg: Any = 0) -> Any:
        path = self.fds[fd]
        if request == K.TUNGETFEATURES:
            if self.tun_features is None:
                raise _err(errno.ENOTTY)
            arg[:] = struct.pack("I", self.tun_features)
            return 0
        if request == K.TUNSETIFF:
            if self.setiff is not None:
                raise _err(self.setiff)
            name, flags = struct.unpack("16sH22x", arg)
            # QEMU's tap_open(): IFF_TAP|IFF_NO_PI, with IFF_VNET_HDR when TUNGETFEATURES offers it
            vnet = K.IFF_VNET_HDR if (self.tun_features or 0) & K.IFF_VNET_HDR else 0
            assert name.rstrip(b"\0") == b"vmpprobe%d" and flags == K.IFF_TAP | K.IFF_NO_PI | vnet
            return struct.pack("16sH22x", b"vmpprobe0", flags)
        if request == K.TUNSETOFFLOAD:
            self.offload_calls.append(arg)
            if self.offload_errno is not None and arg:
                raise _err(self.offload_errno)
            if arg & ~self.offloads:
                raise _err(errno.EINVAL)
            return 0
        if request == K.TUNSETSTEERINGEBPF:
            assert arg == struct.pack("i", -1)   # -1: detach any program, as QEMU does with no eBPF RSS
            if self.steering is not None:
                raise _err(self.steering)
            return 0
        if request == K.VHOST_SET_OWNER:
            assert arg == 0   # no argument (QEMU's vhost_kernel_set_owner passes NULL)
            return 0
        if request == K.VHOST_GET_FEATURES:
            assert len(arg) == 8   # the kernel writes a u64
            bits = self.vhost[path]
            if bits is None:
                raise _err(errno.EFAULT)
            arg[:] = struct.pack("Q", bits)
            return 0
        if request == K.KVM_CREATE_VM:
            assert arg == 0   # the machine type: 0 is the default VM (api.rst 4.2; x86 has others since 6.8)
            if self.create_vm is not None:
                raise _err(self.create_vm)
            vm = next(self._next)
            self.fds[vm] = "kvm-vm"
            return vm
        if request == K.KVM_CHECK_EXTENSION:
            if self.check_errno is not None:
                raise _err(self.check_errno)
            return self.caps.get(arg, 0)
        raise AssertionError(f"unexpected ioctl {request:#x} on {path}")


class _Os:
    """``os`` as the probe module sees it: the fake kernel's calls, the rest real."""

    def __init__(self, kernel: FakeKernel) -> None:
        self._k = kernel

    def __getattr__(self, name: str) -> Any:
        if name in ("open", "close", "sysconf", "geteuid"):
            return getattr(self._k, name)
        return getattr(os, name)


TICK_NS = 1_234_567   # the fake clock advances this much per reading


class _Time:
    """``time`` as the probe module sees it: a clock that advances TICK_NS per reading."""

    def __init__(self) -> None:
        self._now = 10**12

    def perf_counter_ns(self) -> int:
        self._now += TICK_NS
        return self._now

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)


def _durations_are_clock_readings(report: HostReport) -> None:
    """Every duration is a whole number of clock ticks, in microseconds to 0.1 (the report's unit)."""
    for r in (*report, report):
        us = r.duration_us if isinstance(r, HostReport) else r.evidence.duration_us
        ticks = us / (TICK_NS / 1000)
        assert ticks >= 0 and abs(ticks - round(ticks)) < 1e-4, (r, us)
        assert abs(us * 10 - round(us * 10)) < 1e-6


class _Fcntl:
    def __init__(self, kernel: FakeKernel) -> None:
        self.ioctl = kernel.ioctl


BPF_OK = (FeatureStatus.SUPPORTED, Evidence("bpf(BPF_MAP_CREATE array) + bpf(BPF_PROG_LOAD socket_filter)", "ok"))


@pytest.fixture()
def run(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Any:
    def probe(kernel: FakeKernel, *, userns_ok: bool | None = None) -> HostReport:
        tmp_path = tmp_path_factory.mktemp("sysfs")
        monkeypatch.setattr(linux, "os", _Os(kernel))
        monkeypatch.setattr(linux, "fcntl", _Fcntl(kernel))
        monkeypatch.setattr(linux, "time", _Time())
        monkeypatch.setattr(bpf, "probe_socket_filter_load", lambda: BPF_OK)

        def fake_open(path: str, *a: Any, **kw: Any) -> Any:

            assert path == "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
            if isinstance(kernel.thp, int):
                raise _err(kernel.thp)
            real = tmp_path / "hpage_pmd_size"   # a real file with the kernel's bytes, opened as asked
            real.write_bytes(kernel.thp)
            return open(real, *a, **kw)

        monkeypatch.setattr(linux, "open", fake_open, raising=False)
        if userns_ok is not None:
            def in_netns(fn: Any, timeout: float = 0) -> Any:
                if not userns_ok:
                    raise _err(errno.EPERM)
                kernel.setiff = None   # inside its own user namespace the process has CAP_NET_ADMIN
                return json.loads(json.dumps(fn()))   # the child's answer comes back as JSON
            monkeypatch.setattr(userns, "run_in_user_netns", in_netns)
        if userns_ok is False:
            report = linux.LinuxProbe(on_tap=kernel.taps.append, userns=False).run(CATALOG)
        else:   # the default: a user namespace is tried
            report = linux.LinuxProbe(on_tap=kernel.taps.append).run(CATALOG)
        assert kernel.fds == {}, "every fd the probe opened is closed"
        _durations_are_clock_readings(report)
        return report

    return probe


def _ev(report: HostReport, fid: str) -> tuple[str, str, str, str, int | None]:
    r = report.result(fid)
    assert r is not None
    return (r.status.value, r.evidence.check, r.evidence.outcome, r.evidence.detail, r.evidence.errno)


TUN_IDS = ["tap-vnet-hdr", "tap-ufo", "tap-uso", "tap-udp-tunnel-gso", "tun-multiqueue", "tun-steering-ebpf"]


def test_a_6_8_kernel_as_root(run: Any) -> None:
    k = FakeKernel()
    report = run(k)
    assert report.probe_mode == "root"
    assert report.generator == f"vmplatform {vmplatform.__version__}"
    # UTC, to the second (docs: probed-at is ISO 8601 UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", report.probed_at), report.probed_at
    assert [r.feature for r in report] == CATALOG.ids()
    assert _ev(report, "tap-vnet-hdr") == ("supported", "ioctl(TUNGETFEATURES) & IFF_VNET_HDR", "0x7173", "", None)
    assert _ev(report, "tun-multiqueue")[:3] == ("supported", "ioctl(TUNGETFEATURES) & IFF_MULTI_QUEUE", "0x7173")
    assert _ev(report, "tap-ufo") == ("supported", "ioctl(TUNSETOFFLOAD, TUN_F_CSUM|TUN_F_UFO = 0x11)", "ok", "", None)
    assert _ev(report, "tap-uso") == ("supported", "ioctl(TUNSETOFFLOAD, TUN_F_CSUM|TUN_F_USO4|TUN_F_USO6 = 0x61)",
                                      "ok", "", None)
    assert _ev(report, "tap-udp-tunnel-gso") == (
        "unsupported", "ioctl(TUNSETOFFLOAD, TUN_F_CSUM|TUN_F_TSO4|TUN_F_UDP_TUNNEL_GSO = 0x83)", "EINVAL",
        "the kernel rejects this offload mask", errno.EINVAL)
    assert _ev(report, "tun-steering-ebpf") == ("supported", "ioctl(TUNSETSTEERINGEBPF, -1)", "ok", "", None)
    # one TAP, each offload mask once, then the offloads reset to none
    assert k.taps == ["vmpprobe0"]
    assert k.offload_calls == [0x11, 0x61, 0x83, 0]
    assert _ev(report, "vhost-net") == ("supported", "open(/dev/vhost-net) + VHOST_GET_FEATURES", "0x1033d008000",
                                        "", None)
    assert _ev(report, "vhost-net-ring-reset") == ("supported", "open(/dev/vhost-net) + VHOST_GET_FEATURES",
                                                   "0x1033d008000", "bit 40 set", None)
    assert _ev(report, "vhost-vsock-seqpacket")[::3] == ("supported", "bit 1 set")
    assert _ev(report, "kvm-smm") == ("supported", "ioctl(VM fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_SMM=117)",
                                      "returned 1", "", None)
    assert _ev(report, "kvm-hyperv-cpuid")[:2] == ("supported",
                                                   "ioctl(/dev/kvm, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV_CPUID=167)")
    assert _ev(report, "host-page-size-4k") == ("supported", "sysconf(SC_PAGESIZE)", "value 4096", "", None)
    assert _ev(report, "thp-pmd-2m") == ("supported", "read(/sys/kernel/mm/transparent_hugepage/hpage_pmd_size)",
                                         "value 2097152", "", None)
    assert _ev(report, "ebpf-rss")[0] == "supported"
    assert all(r.evidence.duration_us > 0 for r in report)   # every answer was timed


def test_a_6_1_kernel_rejects_uso_and_a_6_17_kernel_takes_udp_tunnel_gso(run: Any) -> None:
    old = run(FakeKernel(offloads=OFFLOADS_6_1,
                         vhost={"/dev/vhost-net": VHOST_NET_6_1, "/dev/vhost-vsock": VHOST_VSOCK}))
    assert _ev(old, "tap-uso")[0:3:2] == ("unsupported", "EINVAL")
    assert _ev(old, "tap-ufo")[0] == "supported"
    # vhost-net without VIRTIO_F_RING_RESET (before 6.3)
    assert _ev(old, "vhost-net-ring-reset") == ("unsupported", "open(/dev/vhost-net) + VHOST_GET_FEATURES",
                                                "0x33d008000", "bit 40 not offered by the kernel's vhost driver",
                                                None)
    new = run(FakeKernel(offloads=OFFLOADS_6_17))
    assert _ev(new, "tap-udp-tunnel-gso")[0] == "supported"


def test_a_kernel_before_4_16_has_no_steering_and_before_3_8_no_multiqueue(run: Any) -> None:
    report = run(FakeKernel(steering=errno.EINVAL, tun_features=TUN_FEATURES_3_7))
    assert _ev(report, "tun-steering-ebpf") == ("unsupported", "ioctl(TUNSETSTEERINGEBPF, -1)", "EINVAL",
                                                "ioctl not implemented by this kernel", errno.EINVAL)
    assert _ev(report, "tun-multiqueue") == ("unsupported", "ioctl(TUNGETFEATURES) & IFF_MULTI_QUEUE", "0x7043",
                                             "flag not reported by the kernel", None)
    enotty = run(FakeKernel(steering=errno.ENOTTY))
    assert _ev(enotty, "tun-steering-ebpf")[0:3:2] == ("unsupported", "ENOTTY")
    # any other failure says nothing about the kernel
    eperm = run(FakeKernel(steering=errno.EPERM))
    assert _ev(eperm, "tun-steering-ebpf") == ("unknown", "ioctl(TUNSETSTEERINGEBPF, -1)", "EPERM",
                                               "Operation not permitted", errno.EPERM)


def test_an_offload_failure_other_than_einval_is_unknown(run: Any) -> None:
    report = run(FakeKernel(offload_errno=errno.EBADFD))
    assert _ev(report, "tap-ufo") == ("unknown", "ioctl(TUNSETOFFLOAD, TUN_F_CSUM|TUN_F_UFO = 0x11)", "EBADFD",
                                      os.strerror(errno.EBADFD), errno.EBADFD)


def test_no_tun_driver_is_unsupported_a_closed_tun_is_unknown(run: Any) -> None:
    absent = run(FakeKernel(tun_open=errno.ENOENT))
    for fid in TUN_IDS:
        assert _ev(absent, fid) == ("unsupported", "open(/dev/net/tun)", "ENOENT", "no TUN/TAP driver (CONFIG_TUN)",
                                    errno.ENOENT)
    for code in (errno.ENODEV, errno.ENXIO):
        assert _ev(run(FakeKernel(tun_open=code)), "tap-uso")[0] == "unsupported"
    closed = run(FakeKernel(tun_open=errno.EACCES))
    assert _ev(closed, "tap-vnet-hdr") == (
        "unknown", "open(/dev/net/tun)", "EACCES",
        "no permission to open /dev/net/tun: run as root (CAP_NET_ADMIN) or grant access to it", errno.EACCES)
    assert _ev(run(FakeKernel(tun_open=errno.EPERM)), "tap-ufo")[0:3:2] == ("unknown", "EPERM")
    other = run(FakeKernel(tun_open=errno.EMFILE))
    assert _ev(other, "tap-ufo") == ("unknown", "open(/dev/net/tun)", "EMFILE", os.strerror(errno.EMFILE),
                                     errno.EMFILE)


def test_tungetfeatures_failing_leaves_every_tun_feature_unknown(run: Any) -> None:
    report = run(FakeKernel(tun_features=None))
    for fid in TUN_IDS:
        assert _ev(report, fid) == ("unknown", "ioctl(TUNGETFEATURES)", "ENOTTY", os.strerror(errno.ENOTTY),
                                    errno.ENOTTY)


def test_a_tap_that_cannot_be_created_leaves_the_offloads_unknown(run: Any) -> None:
    k = FakeKernel(setiff=errno.EBUSY)
    report = run(k)
    assert _ev(report, "tap-vnet-hdr")[0] == "supported"   # read from TUNGETFEATURES, before the TAP
    assert _ev(report, "tap-uso") == ("unknown", "ioctl(TUNSETIFF, IFF_TAP|IFF_NO_PI|IFF_VNET_HDR)", "EBUSY",
                                      os.strerror(errno.EBUSY), errno.EBUSY)
    assert k.taps == [] and k.offload_calls == []


def test_without_cap_net_admin_the_tap_is_probed_in_a_user_namespace(run: Any) -> None:
    k = FakeKernel(setiff=errno.EPERM, euid=65534)
    report = run(k, userns_ok=True)
    assert report.probe_mode == "user-namespace"
    assert _ev(report, "tap-uso")[:3] == ("supported", "ioctl(TUNSETOFFLOAD, TUN_F_CSUM|TUN_F_USO4|TUN_F_USO6 = 0x61)",
                                          "ok")
    assert _ev(report, "tap-vnet-hdr") == ("supported", "ioctl(TUNGETFEATURES) & IFF_VNET_HDR", "0x7173", "", None)
    # everything the namespace's answer says comes back: status, outcome, detail, errno
    assert _ev(report, "tap-udp-tunnel-gso") == (
        "unsupported", "ioctl(TUNSETOFFLOAD, TUN_F_CSUM|TUN_F_TSO4|TUN_F_UDP_TUNNEL_GSO = 0x83)", "EINVAL",
        "the kernel rejects this offload mask", errno.EINVAL)


def test_an_errno_python_has_no_name_for_is_named_by_its_number(run: Any) -> None:
    """ENOTSUPP (524) is kernel-internal but leaks to user space from some drivers' ioctls."""
    report = run(FakeKernel(steering=524))
    assert _ev(report, "tun-steering-ebpf") == ("unknown", "ioctl(TUNSETSTEERINGEBPF, -1)", "errno 524",
                                                os.strerror(524), 524)


def test_without_cap_net_admin_nor_a_user_namespace_the_tap_is_unknown(run: Any) -> None:
    report = run(FakeKernel(setiff=errno.EPERM, euid=65534), userns_ok=False)
    assert report.probe_mode == "unprivileged"
    for fid in TUN_IDS:
        assert _ev(report, fid) == ("unknown", "ioctl(TUNSETIFF)", "EPERM",
                                    "TUNSETIFF needs CAP_NET_ADMIN (EPERM); run as root", errno.EPERM)


def test_no_user_namespace_is_named_in_the_reason(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_netns(fn: Any, timeout: float = 0) -> Any:
        raise _err(errno.ENOSPC)   # user.max_user_namespaces reached (or 0)

    monkeypatch.setattr(userns, "run_in_user_netns", no_netns)
    report = run(FakeKernel(setiff=errno.EPERM, euid=65534))
    assert report.probe_mode == "unprivileged"
    assert _ev(report, "tap-ufo")[3] == ("TUNSETIFF needs CAP_NET_ADMIN (EPERM); no user namespace either: "
                                         f"{os.strerror(errno.ENOSPC)}; run as root")


def test_a_namespace_that_answers_only_partly_is_unprivileged(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the namespace TUNGETFEATURES fails: its answers are unknown, so the mode is not user-namespace."""
    k = FakeKernel(setiff=errno.EPERM, euid=65534)

    def in_netns(fn: Any, timeout: float = 0) -> Any:
        k.setiff, k.tun_features = None, None
        return fn()

    monkeypatch.setattr(userns, "run_in_user_netns", in_netns)
    report = run(k)
    assert report.probe_mode == "unprivileged"
    assert _ev(report, "tap-vnet-hdr")[0:3:2] == ("unknown", "ENOTTY")


def test_vhost_devices_absent_unreadable_or_failing(run: Any) -> None:
    k = FakeKernel(devices={"/dev/vhost-net": errno.EACCES, "/dev/vhost-vsock": None, "/dev/kvm": None},
                   vhost={"/dev/vhost-net": 0, "/dev/vhost-vsock": None})
    report = run(k)
    assert _ev(report, "vhost-net") == ("unknown", "open(/dev/vhost-net) + VHOST_GET_FEATURES", "EACCES",
                                        os.strerror(errno.EACCES), errno.EACCES)
    assert _ev(report, "vhost-net-ring-reset")[0:3:2] == ("unknown", "EACCES")
    assert _ev(report, "vhost-vsock") == ("unknown", "open(/dev/vhost-vsock) + VHOST_GET_FEATURES", "EFAULT",
                                          os.strerror(errno.EFAULT), errno.EFAULT)


def test_a_vhost_node_that_disappears_is_unsupported(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENODEV on open (the node is there, no driver behind it) and no module index to say more."""
    from vmplatform.probe import modules

    monkeypatch.setattr(modules, "devname", lambda name, *a: None)
    monkeypatch.setattr(modules, "has_module_index", lambda *a: False)
    k = FakeKernel(devices={"/dev/vhost-net": errno.ENODEV, "/dev/vhost-vsock": None, "/dev/kvm": None})
    report = run(k)
    assert _ev(report, "vhost-net") == (
        "unsupported", "open(/dev/vhost-net) + VHOST_GET_FEATURES", "ENODEV",
        "/dev/vhost-net does not exist and no module of this kernel provides it (no modules.devname for this "
        "kernel either): not built", errno.ENODEV)
    # the kernel's answer for a bit cannot be read without the device
    assert _ev(report, "vhost-net-ring-reset") == (
        "unknown", "open(/dev/vhost-net) + VHOST_GET_FEATURES", "ENODEV",
        "vhost-net absent: /dev/vhost-net does not exist and no module of this kernel provides it (no "
        "modules.devname for this kernel either): not built", errno.ENODEV)


def test_a_built_module_whose_node_does_not_open_is_not_loaded(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The node exists but opening it fails with ENXIO: the open already tried the module autoload."""
    from vmplatform.probe import modules

    monkeypatch.setattr(modules, "devname", lambda name, *a: modules.DevName("vhost_vsock", "vhost-vsock", 10, 241))
    k = FakeKernel(devices={"/dev/vhost-net": None, "/dev/vhost-vsock": errno.ENXIO, "/dev/kvm": None})
    report = run(k)
    why = "module vhost_vsock not loaded (opening /dev/vhost-vsock did not load it: ENXIO)"
    assert _ev(report, "vhost-vsock") == ("unknown", "open(/dev/vhost-vsock) + VHOST_GET_FEATURES", "ENXIO",
                                          f"vhost-vsock not loaded: {why}", errno.ENXIO)
    assert _ev(report, "vhost-vsock-seqpacket")[3] == f"vhost-vsock not loaded: {why}"


def test_kvm_absent_closed_or_without_a_capability(run: Any) -> None:
    none = run(FakeKernel(devices={"/dev/vhost-net": None, "/dev/vhost-vsock": None, "/dev/kvm": errno.ENOENT}))
    assert _ev(none, "kvm-smm") == ("unsupported", "ioctl(VM fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_SMM=117)",
                                    "ENOENT", "no /dev/kvm (KVM not available)", errno.ENOENT)
    assert _ev(none, "kvm-tsc-control")[0:3:2] == ("unsupported", "ENOENT")
    closed = run(FakeKernel(devices={"/dev/vhost-net": None, "/dev/vhost-vsock": None, "/dev/kvm": errno.EACCES}))
    assert _ev(closed, "kvm-smm") == ("unknown", "ioctl(VM fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_SMM=117)", "EACCES",
                                      "open(/dev/kvm) failed: Permission denied", errno.EACCES)
    assert _ev(closed, "kvm-hyperv-cpuid")[3] == "open(/dev/kvm) failed: Permission denied"
    no_vm = run(FakeKernel(create_vm=errno.ENOMEM))
    assert _ev(no_vm, "kvm-smm") == ("unknown", "ioctl(VM fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_SMM=117)", "ENOMEM",
                                     f"KVM_CREATE_VM failed: {os.strerror(errno.ENOMEM)}", errno.ENOMEM)
    assert _ev(no_vm, "kvm-hyperv-cpuid")[0] == "supported"   # a /dev/kvm capability needs no VM
    without_smm = run(FakeKernel(caps={167: 1, 60: 1}))        # CONFIG_KVM_SMM=n (Linux 6.2+)
    assert _ev(without_smm, "kvm-smm") == ("unsupported", "ioctl(VM fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_SMM=117)",
                                           "returned 0", "capability not offered", None)
    failing = run(FakeKernel(check_errno=errno.EINVAL))
    assert _ev(failing, "kvm-tsc-control") == ("unknown", "ioctl(/dev/kvm, KVM_CHECK_EXTENSION, "
                                               "KVM_CAP_TSC_CONTROL=60)", "EINVAL", os.strerror(errno.EINVAL),
                                               errno.EINVAL)


def test_page_size_and_thp_values(run: Any) -> None:
    report = run(FakeKernel(page_size=65536, thp=b"524288\n"))     # arm64 64K pages: PMD is 512 MiB
    assert _ev(report, "host-page-size-4k") == ("unsupported", "sysconf(SC_PAGESIZE)", "value 65536",
                                                "expected 4096", None)
    assert _ev(report, "thp-pmd-2m")[2:4] == ("value 524288", "expected 2097152")
    no_thp = run(FakeKernel(thp=errno.ENOENT))                    # CONFIG_TRANSPARENT_HUGEPAGE=n
    assert _ev(no_thp, "thp-pmd-2m") == ("unsupported", "read(/sys/kernel/mm/transparent_hugepage/hpage_pmd_size)",
                                         "ENOENT", "file absent", errno.ENOENT)
    hidden = run(FakeKernel(thp=errno.EACCES))
    assert _ev(hidden, "thp-pmd-2m") == ("unknown", "read(/sys/kernel/mm/transparent_hugepage/hpage_pmd_size)",
                                         "EACCES", os.strerror(errno.EACCES), errno.EACCES)
    # a value that is not ASCII text is a wrong value, not a crash
    garbled = run(FakeKernel(thp=b"2097\xff152\n"))
    assert _ev(garbled, "thp-pmd-2m")[0:4] == (
        "unsupported", "read(/sys/kernel/mm/transparent_hugepage/hpage_pmd_size)", "value 2097\ufffd152",
        "expected 2097152")
    # sysconf has no such name here (ValueError) or fails: unknown, with the reason
    no_name = run(FakeKernel(page_size=ValueError("unrecognized configuration name")))
    assert _ev(no_name, "host-page-size-4k") == ("unknown", "sysconf(SC_PAGESIZE)", "error",
                                                 "unrecognized configuration name", None)


def test_a_device_no_loaded_module_provides_while_the_index_exists(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """modules.devname exists for this kernel but names no module for the node: not built."""
    from vmplatform.probe import modules

    monkeypatch.setattr(modules, "devname", lambda name, *a: None)
    monkeypatch.setattr(modules, "has_module_index", lambda *a: True)
    report = run(FakeKernel(devices={"/dev/vhost-net": None, "/dev/vhost-vsock": errno.ENOENT, "/dev/kvm": None}))
    assert _ev(report, "vhost-vsock") == (
        "unsupported", "open(/dev/vhost-vsock) + VHOST_GET_FEATURES", "ENOENT",
        "/dev/vhost-vsock does not exist and no module of this kernel provides it: not built", errno.ENOENT)


def test_a_user_who_may_create_taps_probes_them_itself(run: Any) -> None:
    """Not root, but TUNSETIFF works (CAP_NET_ADMIN granted to the program, or a TAP owned by the user):
    the answers are real, the mode says the probe was not root."""
    report = run(FakeKernel(euid=1000))
    assert report.probe_mode == "unprivileged"
    assert _ev(report, "tap-uso")[0] == "supported"


def test_a_module_loaded_by_the_probe_is_named_in_the_evidence(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """/dev/vhost-net absent until vhost_net is loaded; the probe loads it as QEMU's open would."""
    from vmplatform.probe import modules

    entry = modules.DevName("vhost_net", "vhost-net", 10, 238)
    monkeypatch.setattr(modules, "devname", lambda name, *a: entry if name == "vhost-net" else None)
    monkeypatch.setattr(modules, "autoload", lambda device, e: modules.Autoload(True, True, "vhost_net loaded"))
    k = FakeKernel(devices={"/dev/vhost-net": [errno.ENOENT, None], "/dev/vhost-vsock": None, "/dev/kvm": None})
    report = run(k)
    assert _ev(report, "vhost-net") == ("supported", "open(/dev/vhost-net) + VHOST_GET_FEATURES", "0x1033d008000",
                                        "vhost_net loaded", None)
    assert _ev(report, "vhost-net-ring-reset")[3] == "bit 40 set; vhost_net loaded"
    # loaded, yet the node is still not there
    monkeypatch.setattr(modules, "autoload", lambda device, e: modules.Autoload(True, True, "vhost_net loaded"))
    gone = run(FakeKernel(devices={"/dev/vhost-net": [errno.ENOENT, errno.ENOENT], "/dev/vhost-vsock": None,
                                   "/dev/kvm": None}))
    assert _ev(gone, "vhost-net") == ("unsupported", "open(/dev/vhost-net) + VHOST_GET_FEATURES", "ENOENT",
                                      "/dev/vhost-net does not exist", errno.ENOENT)
