"""vmplatform-qemu, the <emulator> front-end, and the start record the hook hands it: run in-process
against the real QEMU's machine catalog (no daemon here; test_libvirt_daemon.py runs it under libvirtd)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.corpus import DOMAINS, HOSTS, console_script
from vmplatform.errors import VmplatformError
from vmplatform.libvirt import record
from vmplatform.libvirt.admission import record_start
from vmplatform.libvirt.emulator import guest_name, plan
from vmplatform.libvirt.hook import main as hook_main
from vmplatform.libvirt.hook import uses_emulator
from vmplatform.libvirt.metadata import with_manifest
from vmplatform.resolution.manifest import loads

pytestmark = pytest.mark.qemu

QEMU = "/usr/bin/qemu-system-x86_64"
UUID = "0b5b1f3c-6f62-4b0e-8d9a-6b1f0e7c2a11"   # tiny-tcg.xml's
# What libvirtd 11.3 passed the emulator for tiny-tcg.xml (test_libvirt_daemon.py), trimmed to what matters.
LIBVIRT_ARGV = ["-name", "guest=vmp-tiny,debug-threads=on", "-S", "-machine",
                "pc-q35-10.0,usb=off,dump-guest-core=off,memory-backend=pc.ram,acpi=off", "-accel", "tcg",
                "-uuid", UUID, "-no-user-config", "-nodefaults",
                "-netdev", '{"type":"tap","fd":"29","id":"hostnet0"}',
                "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"52:54:00:f4:29:58",'
                '"bus":"pci.1","addr":"0x0"}', "-msg", "timestamp=on"]


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not Path(QEMU).exists():
        pytest.skip(f"{QEMU} is not installed (the emulator pins from the QEMU that runs)")
    d = tmp_path_factory.mktemp("records")
    old = {k: os.environ.get(k) for k in (record.DIR_ENV, "VMPLATFORM_QEMU", "VMPLATFORM_HOST_REPORT")}
    os.environ.update({record.DIR_ENV: str(d), "VMPLATFORM_QEMU": QEMU})
    yield d
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def emulated(manifest_file: str | None = None) -> str:
    text = (DOMAINS / "tiny-tcg.xml").read_text().replace("/usr/bin/qemu-system-x86_64", "/opt/vmp/bin/vmplatform-qemu")
    if manifest_file:
        text = with_manifest(text, loads((DOMAINS.parent / "manifests" / manifest_file).read_text()), "t")
    return text


def admit(xml: str, host: str) -> None:
    os.environ["VMPLATFORM_HOST_REPORT"] = str(HOSTS / f"{host}.json")
    assert record_start("vmp-tiny", xml) == (0, "")


def test_guest_name_and_emulator_detection() -> None:
    assert guest_name(LIBVIRT_ARGV) == "vmp-tiny"
    assert guest_name(["-S", "-machine", "none,accel=kvm:tcg", "-qmp", "unix:/x,server=on,wait=off"]) is None
    assert uses_emulator(emulated()) and not uses_emulator((DOMAINS / "tiny-tcg.xml").read_text())


def test_manifest_platform_is_pinned_into_libvirts_argv(record_dir: Path) -> None:
    """tiny-tcg with the el9 manifest (linux-rhel-9.5: no USO) on a Debian 13 host that has USO."""
    admit(emulated("el9-5.14-default.json"), "debian13-6.12")
    path = record_dir / f"{UUID}.json"
    assert oct(path.stat().st_mode & 0o777) == "0o644"      # the unprivileged QEMU user reads it
    binary, argv, notes = plan(LIBVIRT_ARGV)
    assert binary == QEMU and notes == []
    dev = json.loads(argv[argv.index("-device") + 1])
    assert (dev["host_uso"], dev["guest_uso4"], dev["host_ufo"]) == (False, False, True)
    assert argv[:argv.index("-device")] == LIBVIRT_ARGV[:LIBVIRT_ARGV.index("-device")]   # the rest untouched


def test_without_manifest_the_hosts_default(record_dir: Path) -> None:
    admit(emulated(), "debian13-6.12")
    _, argv, notes = plan(LIBVIRT_ARGV)
    assert json.loads(argv[argv.index("-device") + 1])["host_uso"] is True
    assert any(n.startswith("no -platform given: using linux-debian-13") for n in notes)


def test_xml_values_that_contradict_the_manifest_are_refused(record_dir: Path) -> None:
    admit(emulated("el9-5.14-default.json"), "debian13-6.12")
    argv = list(LIBVIRT_ARGV)
    i = argv.index("-device") + 1
    argv[i] = argv[i].replace('"addr":"0x0"}', '"addr":"0x0","host_uso":true}')
    with pytest.raises(VmplatformError) as exc:
        plan(argv)
    assert exc.value.message.startswith("QEMU would not get the values of domain vmp-tiny's manifest: net0 "
                                        "host_uso is on in the XML, the manifest pins off")


def test_no_record_is_refused(record_dir: Path) -> None:
    argv = [a if a != UUID else "11111111-2222-3333-4444-555555555555" for a in LIBVIRT_ARGV]
    with pytest.raises(VmplatformError) as exc:
        plan(argv)
    assert exc.value.message == ("no start record for domain vmp-tiny (uuid 11111111-2222-3333-4444-555555555555): "
                                 "the vmplatform hook did not admit it")
    assert "install vmplatform-libvirt-hook as /etc/libvirt/hooks/qemu" in exc.value.hint


def test_hook_writes_the_record_at_prepare_and_removes_it_at_release(record_dir: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import sys

    xml = emulated("el9-5.14-default.json")
    os.environ["VMPLATFORM_HOST_REPORT"] = str(HOSTS / "el9-5.14.json")
    path = record_dir / f"{UUID}.json"
    path.unlink(missing_ok=True)
    for op, sub, exists in (("prepare", "begin", True), ("release", "end", False)):
        sys.stdin = io.StringIO(xml)
        try:
            assert hook_main(["vmp-tiny", op, sub, "-"]) == 0
        finally:
            sys.stdin = sys.__stdin__
        assert path.exists() is exists
        if exists:
            rec = record.read(UUID)
            assert rec is not None and rec.name == "vmp-tiny"   # the GUEST argument
    assert capsys.readouterr().err == ""


def test_hook_does_not_ask_an_emulated_domain_to_carry_pins(record_dir: Path) -> None:
    """The XML has the manifest but no pins: the plain-QEMU road refuses it (drift), this one admits it."""
    from vmplatform.libvirt.admission import decide

    plain = with_manifest((DOMAINS / "tiny-tcg.xml").read_text(),
                          loads((DOMAINS.parent / "manifests" / "el9-5.14-default.json").read_text()), "t")
    os.environ["VMPLATFORM_HOST_REPORT"] = str(HOSTS / "el9-5.14.json")
    assert decide("vmp-tiny", "prepare", "begin", plain)[0] == 1
    assert decide("vmp-tiny", "prepare", "begin", emulated("el9-5.14-default.json"), pinned_by_emulator=True)[0] == 0


def test_capability_probe_passes_straight_to_qemu(record_dir: Path, tmp_path: Path) -> None:
    """libvirt's probe has no -name guest=: the real QEMU runs it (here: -version, answered by QEMU)."""
    emu = console_script("vmplatform-qemu", "vmplatform.libvirt.emulator", tmp_path)
    got = subprocess.run([str(emu), "-version"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "VMPLATFORM_QEMU": QEMU}, check=False)
    real = subprocess.run([QEMU, "-version"], capture_output=True, text=True, timeout=60, check=False)
    assert (got.returncode, got.stdout) == (0, real.stdout) and "QEMU emulator version" in got.stdout


@pytest.mark.parametrize(("emulator", "expected"), [
    ("<emulator>/opt/vmp/bin/vmplatform-qemu</emulator>", True),
    ("<emulator>\n  /usr/local/bin/vmplatform-qemu  \n</emulator>", True),
    ("<emulator>vmplatform-qemu</emulator>", True),            # a bare name, as PATH finds it
    ("<emulator>/usr/bin/qemu-system-x86_64</emulator>", False),
    ("<emulator>/usr/bin/vmplatform-qemu-old</emulator>", False),
    ("<emulator>/opt/vmplatform-qemu/bin/qemu-kvm</emulator>", False),   # the name of a directory
    ("<devices><disk/></devices>", False),
    ("<emulator>/opt/vmp/bin/vmplatform-qemu", False),          # cut short: no closing tag
])
def test_the_emulator_is_vmplatform_qemu_by_its_file_name(emulator: str, expected: bool) -> None:
    assert uses_emulator(emulator) is expected
    assert uses_emulator(f"<domain type='kvm'><name>d</name><devices>{emulator}</devices></domain>") is expected


def test_the_record_names_the_domain(record_dir: Path) -> None:
    admit(emulated("el9-5.14-default.json"), "debian13-6.12")
    rec = record.read(UUID)
    assert rec is not None and (rec.name, rec.uuid) == ("vmp-tiny", UUID)


def test_a_domain_without_uuid_cannot_be_handed_to_the_emulator(record_dir: Path) -> None:
    os.environ["VMPLATFORM_HOST_REPORT"] = str(HOSTS / "debian13-6.12.json")
    xml = emulated()
    start = xml.index("<uuid>")
    no_uuid = xml[:start] + xml[xml.index("</uuid>") + len("</uuid>"):]
    assert record_start("vmp-tiny", no_uuid) == (
        1, "vmplatform-libvirt-hook: refusing to start domain vmp-tiny: cannot hand it to vmplatform-qemu: domain "
           "vmp-tiny: no <uuid> in the domain XML libvirt passed\n")


def test_a_broken_manifest_of_an_emulated_domain_names_the_domain(record_dir: Path) -> None:
    os.environ["VMPLATFORM_HOST_REPORT"] = str(HOSTS / "debian13-6.12.json")
    xml = emulated("el9-5.14-default.json").replace('"schema":"vmplatform/manifest/1"',
                                                     '"schema":"vmplatform/manifest/9"')
    rc, err = record_start("vmp-tiny", xml)
    assert rc == 1
    assert err.startswith("vmplatform-libvirt-hook: refusing to start domain vmp-tiny: cannot hand it to "
                          "vmplatform-qemu: domain vmp-tiny: <metadata> vmplatform manifest: not a vmplatform "
                          "manifest (schema 'vmplatform/manifest/9'")


def test_a_domain_that_only_mentions_the_emulator_gets_no_record(record_dir: Path) -> None:
    """The plain QEMU road: vmplatform-qemu named in the description, not as <emulator>."""
    import io
    import sys

    xml = with_manifest((DOMAINS / "tiny-tcg.xml").read_text().replace(
        "</name>", "</name>\n  <description>to move to vmplatform-qemu later</description>", 1),
        loads((DOMAINS.parent / "manifests" / "el9-5.14-default.json").read_text()), "t")
    assert "vmplatform-qemu" in xml and not uses_emulator(xml)
    # the XML carries no pins: the plain road refuses it as drift; what matters is that no record appears
    os.environ["VMPLATFORM_HOST_REPORT"] = str(HOSTS / "el9-5.14.json")
    path = record_dir / f"{UUID}.json"
    path.unlink(missing_ok=True)
    sys.stdin = io.StringIO(xml)
    try:
        assert hook_main(["vmp-tiny", "prepare", "begin", "-"]) == 1
    finally:
        sys.stdin = sys.__stdin__
    assert not path.exists()


def test_a_plain_qemu_domain_admitted_gets_no_record(record_dir: Path) -> None:
    import io
    import sys

    os.environ["VMPLATFORM_HOST_REPORT"] = str(HOSTS / "el9-5.14.json")
    path = record_dir / f"{UUID}.json"
    path.unlink(missing_ok=True)
    sys.stdin = io.StringIO((DOMAINS / "tiny-tcg.xml").read_text())   # no manifest: admitted
    try:
        assert hook_main(["vmp-tiny", "prepare", "begin", "-"]) == 0
    finally:
        sys.stdin = sys.__stdin__
    assert not path.exists()
