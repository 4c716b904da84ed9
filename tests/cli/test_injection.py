"""What a file or an argument can make vmplatform do: nothing beyond its own job.

* argv reaches QEMU as written, byte for byte, with pins only appended to the
  options of governed devices (no shell, no re-quoting);
* a manifest speaks only of catalog features, the properties they govern, and
  values that are one token of QEMU's option syntax;
* the libvirt hook, run as root on every domain event, opens no file a domain
  XML names, and writes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from vmplatform.libvirt.network import Networks, read_network, valid_name
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import loads
from vmplatform.qemu.frontend import rewrite

DATA = Path(__file__).parents[1] / "data"
HOST = DATA / "hosts" / "debian13-6.12.json"

AWKWARD = [
    "-name", "guest=web 1,,with=commas,,and \"quotes\" 'single' \u00e9\u4e2d\U0001f600",
    "-append", 'console=ttyS0 root=/dev/vda x="a b" y=$HOME `id` $(id) ; rm -rf /',
    "-drive", "file=/var/lib/images/a b,,c.qcow2,if=none,id=d0",
    "-smbios", "type=1,serial=\u00fc\u00df\t",
    "-chardev", "socket,id=c0,path=/run/x y.sock,server=on,wait=off",
    "-device", "virtio-serial-pci", os.fsdecode(b"-\xff\xfe-invalid-utf8"),
]


def test_argv_is_passed_byte_for_byte() -> None:
    report = loads(HOST.read_text(), str(HOST))
    argv = ["-machine", "pc-q35-10.0,accel=tcg", "-netdev", "user,id=n0",
            "-device", "virtio-net-pci,netdev=n0,id=net0", *AWKWARD]
    rw = rewrite(argv, mc=default_machine_catalog(), platforms=load_platforms(env={}, system=None),
                 report=report)
    out = rw.argv
    # Everything we were given is there, in order, untouched; only governed device
    # options (and the machine) may have grown a suffix of pins.
    pos = 0
    for token in argv:
        while pos < len(out) and not (out[pos] == token or (out[pos].startswith(token + ",") and
                                                            token.startswith(("virtio-net-pci", "pc-q35")))):
            pos += 1
        assert pos < len(out), f"{token!r} did not reach QEMU as written: {out}"
        pos += 1
    for token in AWKWARD:
        assert token in out
    assert os.fsencode(AWKWARD[-1]) == b"-\xff\xfe-invalid-utf8"


def test_the_front_end_execs_without_a_shell(tmp_path: Path) -> None:
    """The real exec: a stand-in binary records the argv it received."""
    record = tmp_path / "argv.json"
    fake = tmp_path / "qemu-system-x86_64"
    fake.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    f"json.dump([os.fsencode(a).hex() for a in sys.argv[1:]], open({str(record)!r}, 'w'))\n")
    fake.chmod(0o755)
    argv = ["-machine", "pc-q35-10.0,accel=tcg", *AWKWARD[:-1]]
    snapshot = Path(__file__).parents[2] / "src/vmplatform/data/machines/qemu-10.0.2-x86_64.json"
    proc = subprocess.run([sys.executable, "-m", "vmplatform", "qemu", "--qemu-binary", str(fake), "--host",
                           str(HOST), "--machine-catalog", str(snapshot), *argv], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    got = [bytes.fromhex(h) for h in json.loads(record.read_text())]
    assert [os.fsencode(a) for a in argv] == [g for g in got if g in {os.fsencode(a) for a in argv}]


@pytest.mark.parametrize("change,field", [
    ({"property": "romfile", "value": "/etc/shadow"}, "property"),
    ({"value": "on,romfile=/etc/shadow"}, "value"),
    ({"value": "on\nmalicious"}, "value"),
    ({"feature": "no-such-feature"}, "feature"),
    ({"device": "net0,romfile=/x"}, "device"),
])
def test_a_manifest_can_only_name_catalog_properties_and_plain_values(tmp_path: Path, change: dict[str, str],
                                                                     field: str) -> None:
    manifest = json.loads((DATA / "manifests" / "debian13-6.12-default.json").read_text())
    manifest["pinned-properties"][0].update(change)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    rc, out, err = run_cli(["check", "--manifest", str(path), "--host", str(HOST)])
    assert rc == 1
    assert f"{path}: pinned-properties[0].{field}:" in err


@pytest.mark.parametrize("name", ["../secret", "..", ".", "a/b", "/etc/passwd", "x\0y", ""])
def test_a_network_name_is_never_a_path(tmp_path: Path, name: str) -> None:
    """The hook resolves <source network='NAME'> in libvirt's directories, as root: NAME is a name."""
    netdir = tmp_path / "networks"
    netdir.mkdir()
    hostdev = "<network><name>{}</name><forward mode='hostdev'/></network>"
    (tmp_path / "secret.xml").write_text(hostdev.format("secret"))
    (netdir / "ok.xml").write_text(hostdev.format("ok"))
    nets = Networks(dirs=(netdir,))
    assert not valid_name(name)
    assert nets.get(name) is None
    assert nets.get("ok") == read_network(hostdev.format("ok"), str(netdir / "ok.xml"))


def _kvm_has_smm() -> bool:
    """KVM_CHECK_EXTENSION(KVM_CAP_X86_SMM) on /dev/kvm, asked here rather than through the probe."""
    import fcntl

    kvm_check_extension, kvm_cap_x86_smm = 0xAE03, 117   # linux/kvm.h: _IO(KVMIO, 0x03); KVM_CAP_X86_SMM
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, kvm_check_extension, kvm_cap_x86_smm) > 0
    finally:
        os.close(fd)


@pytest.mark.root
def test_the_hook_writes_nothing(tmp_path: Path) -> None:
    """On a guarded operation with no cached report the hook probes, and stores nothing.

    The manifest needs kvm-smm, tap-uso (Linux 6.2), tap-ufo and tap-vnet-hdr: as root with a TUN
    device, the hook admits the start (0) exactly when this kernel is 6.2 or later and KVM offers SMM,
    and refuses it (1) otherwise."""
    from tests.harness.requirements import missing_root, missing_tun, running_kernel, skip_unless

    skip_unless(missing_root, missing_tun)
    from vmplatform.libvirt.metadata import with_manifest
    from vmplatform.resolution.manifest import loads as load_manifest

    manifest = load_manifest((DATA / "manifests/debian13-6.12-default.json").read_text())
    xml = with_manifest((DATA / "domains/tiny-tcg.xml").read_text(), manifest, "tiny-tcg.xml")
    runtime = tmp_path / "run"
    hook = Path(sys.executable).parent / "vmplatform-libvirt-hook"
    env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "VMPLATFORM_RUNTIME_DIR": str(runtime)}
    proc = subprocess.run([str(hook), "vmp-tiny", "prepare", "begin", "-"], input=xml, text=True,
                          capture_output=True, env=env, cwd=tmp_path)
    admits = running_kernel() >= (6, 2) and _kvm_has_smm()
    assert (proc.returncode, "Traceback" in proc.stderr) == (0 if admits else 1, False), proc.stderr
    assert not runtime.exists(), "the hook wrote its probe to the cache"
    assert sorted(p.name for p in tmp_path.iterdir()) == []
