"""The real Linux probe: the same ioctls and syscalls QEMU makes, no QEMU.

TAP probes mirror QEMU's ``net/tap-linux.c``: ``TUNGETFEATURES`` on
/dev/net/tun, a TAP created with ``IFF_TAP|IFF_NO_PI|IFF_VNET_HDR``, then one
``TUNSETOFFLOAD`` per offload mask, then offloads reset to 0. The TAP is never
made persistent, so the kernel deletes it when the fd closes, including when
the process is killed mid-probe: the probe cannot leave an interface behind.

Without CAP_NET_ADMIN the TAP probes run in a forked child inside a new user +
network namespace (where the kernel allows unprivileged user namespaces);
failing that they report ``unknown`` with the reason.
"""

from __future__ import annotations

import datetime
import errno as errno_mod
import fcntl
import os
import struct
import time
from collections.abc import Callable, Mapping
from typing import Any

from vmplatform import __version__
from vmplatform.model.features import Catalog, HostFeature
from vmplatform.model.probe_spec import (
    TUN_SPECS,
    BpfProgLoad,
    FileValue,
    KvmCapability,
    ProbeSpec,
    Sysconf,
    TunFeatures,
    TunOffload,
    TunSteeringEbpf,
    VhostFeatures,
)
from vmplatform.model.report import Evidence, FeatureResult, FeatureStatus, HostReport
from vmplatform.probe import ioctls as K
from vmplatform.probe.identity import local_identity
from vmplatform.records import field, record

TapHook = Callable[[str], None]


@record(frozen=False)
class _Result:
    status: FeatureStatus
    evidence: Evidence

    def to_json(self) -> dict[str, Any]:
        e = self.evidence
        return {"status": self.status.value, "check": e.check, "outcome": e.outcome,
                "detail": e.detail, "errno": e.errno, "duration-us": e.duration_us}

    @classmethod
    def from_json(cls, o: Mapping[str, Any]) -> _Result:
        return cls(FeatureStatus(o["status"]), Evidence(
            o["check"], o["outcome"], o.get("detail", ""), o.get("errno"), float(o["duration-us"])))


def _errname(err: int | None) -> str:
    if err is None:
        return "error"
    return errno_mod.errorcode.get(err, f"errno {err}")


def _timed(t0: int, res: _Result) -> _Result:
    """``res`` with the time since ``t0`` (perf_counter_ns) as its duration."""
    res.evidence = Evidence(res.evidence.check, res.evidence.outcome, res.evidence.detail,
                            res.evidence.errno, round((time.perf_counter_ns() - t0) / 1000.0, 1))
    return res


def _ok(check: str, outcome: str = "ok", detail: str = "") -> _Result:
    return _Result(FeatureStatus.SUPPORTED, Evidence(check, outcome, detail))


def _no(check: str, outcome: str, detail: str = "", err: int | None = None) -> _Result:
    return _Result(FeatureStatus.UNSUPPORTED, Evidence(check, outcome, detail, err))


def _unknown(check: str, outcome: str, detail: str = "", err: int | None = None) -> _Result:
    return _Result(FeatureStatus.UNKNOWN, Evidence(check, outcome, detail, err))


class _NeedsPrivilege(Exception):
    pass


# -- TAP ----------------------------------------------------------------------

def _probe_tun(feats: list[HostFeature], on_tap: TapHook | None) -> dict[str, _Result]:
    """All tun-* features with one /dev/net/tun fd and one non-persistent TAP."""
    out: dict[str, _Result] = {}
    t_open = time.perf_counter_ns()
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        missing = err.errno in (errno_mod.ENOENT, errno_mod.ENODEV, errno_mod.ENXIO)
        if missing:
            detail = "no TUN/TAP driver (CONFIG_TUN)"
        elif err.errno in (errno_mod.EACCES, errno_mod.EPERM):
            detail = "no permission to open /dev/net/tun: run as root (CAP_NET_ADMIN) or grant access to it"
        else:
            detail = err.strerror or str(err)
        for f in feats:
            out[f.id] = (_no if missing else _unknown)("open(/dev/net/tun)", _errname(err.errno), detail, err.errno)
        return out
    try:
        buf = bytearray(4)
        try:
            fcntl.ioctl(fd, K.TUNGETFEATURES, buf)
            tun_flags = struct.unpack("I", buf)[0]
        except OSError as err:
            for f in feats:
                out[f.id] = _unknown("ioctl(TUNGETFEATURES)", _errname(err.errno), err.strerror or str(err), err.errno)
            return out
        open_us = (time.perf_counter_ns() - t_open) / 1000.0
        rest = []
        for f in feats:
            if isinstance(f.probe, TunFeatures):
                check = f"ioctl(TUNGETFEATURES) & {f.probe.flag}"
                res = (_ok(check, f"0x{tun_flags:x}") if tun_flags & f.probe.flag_value
                       else _no(check, f"0x{tun_flags:x}", "flag not reported by the kernel"))
                res.evidence = Evidence(res.evidence.check, res.evidence.outcome, res.evidence.detail,
                                        None, round(open_us, 1))
                out[f.id] = res
            else:
                rest.append(f)
        if not rest:
            return out
        ifr_flags = K.IFF_TAP | K.IFF_NO_PI | (K.IFF_VNET_HDR if tun_flags & K.IFF_VNET_HDR else 0)
        ifr = struct.pack("16sH22x", b"vmpprobe%d", ifr_flags)
        try:
            res_ifr = fcntl.ioctl(fd, K.TUNSETIFF, ifr)
        except OSError as err:
            if err.errno == errno_mod.EPERM:
                raise _NeedsPrivilege() from err
            for f in rest:
                out[f.id] = _unknown("ioctl(TUNSETIFF, IFF_TAP|IFF_NO_PI|IFF_VNET_HDR)",
                                     _errname(err.errno), err.strerror or str(err), err.errno)
            return out
        name = res_ifr[:16].split(b"\0", 1)[0].decode()
        if on_tap is not None:
            on_tap(name)
        for f in rest:
            out[f.id] = _timed(time.perf_counter_ns(), _tun_one(fd, f.probe))
        try:
            fcntl.ioctl(fd, K.TUNSETOFFLOAD, 0)
        except OSError:
            pass
        return out
    finally:
        os.close(fd)


def _tun_one(fd: int, spec: ProbeSpec) -> _Result:
    """One probe on the TAP ``fd`` (the TUNGETFEATURES ones are answered without it)."""
    match spec:
        case TunOffload(offloads=names, mask=mask):
            check = f"ioctl(TUNSETOFFLOAD, {'|'.join(names)} = 0x{mask:x})"
            try:
                fcntl.ioctl(fd, K.TUNSETOFFLOAD, mask)
            except OSError as err:
                if err.errno == errno_mod.EINVAL:
                    return _no(check, "EINVAL", "the kernel rejects this offload mask", err.errno)
                return _unknown(check, _errname(err.errno), err.strerror or str(err), err.errno)
            return _ok(check)
        case TunSteeringEbpf(argument=arg):
            check = f"ioctl(TUNSETSTEERINGEBPF, {arg})"
            try:
                fcntl.ioctl(fd, K.TUNSETSTEERINGEBPF, struct.pack("i", arg))
            except OSError as err:
                if err.errno in (errno_mod.EINVAL, errno_mod.ENOTTY):
                    return _no(check, _errname(err.errno), "ioctl not implemented by this kernel", err.errno)
                return _unknown(check, _errname(err.errno), err.strerror or str(err), err.errno)
            return _ok(check)
    return _unknown(spec.method, "not a TAP probe")


def _probe_tun_in_userns(feats: list[HostFeature]) -> dict[str, _Result]:
    """Run the TAP probes in a forked child inside a new user + net namespace."""
    from vmplatform.probe import userns

    raw = userns.run_in_user_netns(lambda: {fid: r.to_json() for fid, r in _probe_tun(feats, None).items()})
    return {fid: _Result.from_json(o) for fid, o in raw.items()}


# -- vhost, KVM, BPF, values --------------------------------------------------

@record(frozen=False)
class _Devices:
    """Per-run cache: each device node is opened at most once."""

    vhost: dict[str, tuple[int | None, OSError | None]] = field(default_factory=dict)
    absent: dict[str, tuple[bool, str]] = field(default_factory=dict)  # device -> (module built, why absent)
    loaded: dict[str, str] = field(default_factory=dict)               # device -> how its module was loaded
    kvm_fd: int | None = None
    kvm_err: OSError | None = None
    vm_fd: int | None = None
    vm_err: OSError | None = None

    def _open(self, device: str) -> int:
        """Open ``device`` as QEMU does; load its module the way that open would (see modules.py)."""
        try:
            return os.open(device, os.O_RDWR | os.O_CLOEXEC)
        except OSError as err:
            if not _device_missing(err):
                raise
            from vmplatform.probe import modules

            entry = modules.devname(os.path.basename(device))
            if entry is None:
                where = ("" if modules.has_module_index()
                         else " (no modules.devname for this kernel either)")
                self.absent[device] = (False, f"{device} does not exist and no module of this kernel provides "
                                              f"it{where}: not built")
                raise
            if err.errno != errno_mod.ENOENT:  # the node exists: opening it already tried the autoload
                self.absent[device] = (True, f"module {entry.module} not loaded (opening {device} did not load "
                                             f"it: {_errname(err.errno)})")
                raise
            result = modules.autoload(device, entry)
            if not result.loaded:
                self.absent[device] = (True, result.detail)
                raise
            self.loaded[device] = result.detail
            return os.open(device, os.O_RDWR | os.O_CLOEXEC)

    def vhost_features(self, device: str) -> tuple[int | None, OSError | None]:
        if device not in self.vhost:
            try:
                fd = self._open(device)
            except OSError as err:
                self.vhost[device] = (None, err)
            else:
                try:
                    fcntl.ioctl(fd, K.VHOST_SET_OWNER, 0)
                    buf = bytearray(8)
                    fcntl.ioctl(fd, K.VHOST_GET_FEATURES, buf)
                    self.vhost[device] = (struct.unpack("Q", buf)[0], None)
                except OSError as err:
                    self.vhost[device] = (None, err)
                finally:
                    os.close(fd)
        return self.vhost[device]

    def kvm(self) -> int:
        if self.kvm_fd is None and self.kvm_err is None:
            try:
                self.kvm_fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
            except OSError as err:
                self.kvm_err = err
        if self.kvm_err is not None:
            raise self.kvm_err
        assert self.kvm_fd is not None
        return self.kvm_fd

    def vm(self) -> int:
        if self.vm_fd is None and self.vm_err is None:
            try:
                self.vm_fd = fcntl.ioctl(self.kvm(), K.KVM_CREATE_VM, 0)
            except OSError as err:
                self.vm_err = err
        if self.vm_err is not None:
            raise self.vm_err
        assert self.vm_fd is not None
        return self.vm_fd

    def close(self) -> None:
        for fd in (self.vm_fd, self.kvm_fd):
            if fd is not None:
                os.close(fd)
        self.vm_fd = self.kvm_fd = None


def _device_missing(err: OSError) -> bool:
    return err.errno in (errno_mod.ENOENT, errno_mod.ENODEV, errno_mod.ENXIO)


def _probe_vhost(dev: _Devices, spec: VhostFeatures) -> _Result:
    device, bit = spec.device, spec.bit
    feats, err = dev.vhost_features(device)
    check = f"open({device}) + VHOST_GET_FEATURES"
    if err is not None:
        absent = dev.absent.get(device)
        if absent is not None:
            built, why = absent
            name = os.path.basename(device)
            if bit is not None:  # the kernel's answer for this bit cannot be read without the device
                state = "not loaded" if built else "absent"
                return _unknown(check, _errname(err.errno), f"{name} {state}: {why}", err.errno)
            if built:
                return _unknown(check, _errname(err.errno), f"{name} not loaded: {why}", err.errno)
            return _no(check, _errname(err.errno), why, err.errno)
        if _device_missing(err):
            return _no(check, _errname(err.errno), f"{device} does not exist", err.errno)
        return _unknown(check, _errname(err.errno), err.strerror or str(err), err.errno)
    assert feats is not None
    note = f"; {dev.loaded[device]}" if device in dev.loaded else ""
    if bit is None:
        return _ok(check, f"0x{feats:x}", note[2:])
    if feats >> bit & 1:
        return _ok(check, f"0x{feats:x}", f"bit {bit} set{note}")
    return _no(check, f"0x{feats:x}", f"bit {bit} not offered by the kernel's vhost driver{note}")


def _probe_kvm(dev: _Devices, spec: KvmCapability) -> _Result:
    cap, cap_name, on_vm = spec.number, spec.capability, spec.on_vm
    scope = "VM fd" if on_vm else "/dev/kvm"
    check = f"ioctl({scope}, KVM_CHECK_EXTENSION, {cap_name}={cap})"
    try:
        fd = dev.vm() if on_vm else dev.kvm()
    except OSError as err:
        if _device_missing(err):
            return _no(check, _errname(err.errno), "no /dev/kvm (KVM not available)", err.errno)
        what = "KVM_CREATE_VM" if on_vm and dev.kvm_err is None else "open(/dev/kvm)"
        return _unknown(check, _errname(err.errno), f"{what} failed: {err.strerror}", err.errno)
    try:
        r = fcntl.ioctl(fd, K.KVM_CHECK_EXTENSION, cap)
    except OSError as err:
        return _unknown(check, _errname(err.errno), err.strerror or str(err), err.errno)
    return _ok(check, f"returned {r}") if r > 0 else _no(check, "returned 0", "capability not offered")


def _probe_value(spec: Sysconf | FileValue) -> _Result:
    want = spec.equals
    if isinstance(spec, Sysconf):
        check = f"sysconf({spec.name})"
        try:
            got = str(os.sysconf(spec.name))
        except (ValueError, OSError) as err:
            return _unknown(check, "error", str(err))
    else:
        path = spec.path
        check = f"read({path})"
        try:
            with open(path, encoding="ascii", errors="replace") as fh:
                got = fh.read().strip()
        except OSError as err:
            if _device_missing(err):
                return _no(check, _errname(err.errno), "file absent", err.errno)
            return _unknown(check, _errname(err.errno), err.strerror or "", err.errno)
    if got == str(want):
        return _ok(check, f"value {got}")
    return _no(check, f"value {got}", f"expected {want}")


def _probe_bpf() -> _Result:
    from vmplatform.probe import bpf

    return _Result(*bpf.probe_socket_filter_load())


def _probe_one(dev: _Devices, spec: ProbeSpec) -> _Result:
    """A probe that needs no TAP, chosen by its spec's class."""
    match spec:
        case VhostFeatures():
            return _probe_vhost(dev, spec)
        case KvmCapability():
            return _probe_kvm(dev, spec)
        case BpfProgLoad():
            return _probe_bpf()
        case Sysconf() | FileValue():
            return _probe_value(spec)
        case TunFeatures() | TunOffload() | TunSteeringEbpf():
            return _unknown(spec.method, "a TAP probe, run with the TAP")


# -- driver -------------------------------------------------------------------

class LinuxProbe:
    """Probe this Linux host.

    ``userns``: when TAP creation needs privilege we lack, retry the TAP probes
    in a new user + network namespace. ``on_tap``: called with the TAP name
    while it exists (tests use it to kill the probe mid-flight).
    """

    def __init__(self, *, userns: bool = True, on_tap: TapHook | None = None) -> None:
        self.userns = userns
        self.on_tap = on_tap

    def run(self, catalog: Catalog) -> HostReport:
        t0 = time.perf_counter_ns()
        started = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        feats = list(catalog)
        tun = [f for f in feats if isinstance(f.probe, TUN_SPECS)]
        results: dict[str, _Result] = {}
        mode = "root" if os.geteuid() == 0 else "unprivileged"
        try:
            results.update(_probe_tun(tun, self.on_tap))
        except _NeedsPrivilege:
            results.update(self._tun_without_privilege(tun))
            mode = "user-namespace" if all(
                results[f.id].status is not FeatureStatus.UNKNOWN for f in tun) else "unprivileged"
        dev = _Devices()
        try:
            for f in feats:
                if f.id in results:
                    continue
                results[f.id] = _timed(time.perf_counter_ns(), _probe_one(dev, f.probe))
        finally:
            dev.close()
        return HostReport(
            host=local_identity(),
            results=tuple(FeatureResult(f.id, results[f.id].status, results[f.id].evidence) for f in feats),
            probed_at=started.isoformat(), probe_mode=mode,
            duration_us=round((time.perf_counter_ns() - t0) / 1000.0, 1), generator=f"vmplatform {__version__}")

    def _tun_without_privilege(self, tun: list[HostFeature]) -> dict[str, _Result]:
        reason = "TUNSETIFF needs CAP_NET_ADMIN (EPERM)"
        if self.userns:
            try:
                return _probe_tun_in_userns(tun)
            except OSError as err:
                reason += f"; no user namespace either: {err.strerror or err}"
        return {f.id: _unknown("ioctl(TUNSETIFF)", "EPERM", reason + "; run as root", errno_mod.EPERM)
                for f in tun}
