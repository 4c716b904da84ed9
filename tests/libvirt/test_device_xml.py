"""vmplatform libvirt pin --device-xml: a device for 'virsh attach-device', pinned as libvirt applies it to a
running domain (attributes yes, <qemu:override> no: see src/vmplatform/libvirt/device.py)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.harness.corpus import DOMAINS, HOSTS

UBUNTU = str(HOSTS / "ubuntu2404-6.8.json")      # has USO
EL9 = str(HOSTS / "el9-5.14.json")               # lacks USO
NIC = "<interface type='ethernet'>\n  <model type='virtio'/>\n</interface>\n"


def pin_device(tmp_path: Path, device: str, *args: str, domain: Path = DOMAINS / "tiny-tcg.xml") -> tuple[int, str,
                                                                                                          str]:
    dev = tmp_path / "dev.xml"
    dev.write_text(device)
    return run_cli(["libvirt", "pin", "--domain-xml", str(domain), "--device-xml", str(dev), *args])


def test_nic_gets_attribute_pins_and_the_alias_libvirt_will_give_it(tmp_path: Path) -> None:
    rc, out, err = pin_device(tmp_path, NIC, "--host", UBUNTU, "--platform", "linux-debian-13")
    assert rc == 0, err
    assert out == ("<interface type=\"ethernet\">\n  <model type=\"virtio\"/>\n  <driver rss_hash_report=\"off\">\n"
                   "    <host csum=\"on\" tso4=\"on\" tso6=\"on\" ecn=\"on\" ufo=\"on\"/>\n"
                   "    <guest csum=\"on\" tso4=\"on\" tso6=\"on\" ecn=\"on\" ufo=\"on\"/>\n"
                   "  </driver>\n</interface>\n")
    # tiny-tcg already has net0: libvirt names the new NIC net1; USO has no attribute, this host gives it anyway
    assert "vmplatform: net1 host_uso=on: libvirt has no attribute for it" in err


def test_a_value_only_an_override_could_pin_is_refused(tmp_path: Path) -> None:
    """linux-6.1 pins USO off; libvirt cannot say so at hot-plug, and QEMU on this host would offer it."""
    rc, out, err = pin_device(tmp_path, NIC, "--host", UBUNTU, "--platform", "linux-6.1")
    assert (rc, out) == (1, "")
    assert err.startswith("vmplatform: error: ")
    assert "net1 host_uso=off (QEMU on this host would give on)" in err
    assert "Traceback" not in err


def test_the_domains_manifest_names_the_platform(tmp_path: Path) -> None:
    """A domain pinned to linux-rhel-9.5 (no USO) on an EL9 host: its hot-plugged NIC follows it."""
    pinned = tmp_path / "tiny.xml"
    assert run_cli(["libvirt", "pin", "--host", EL9, "--domain-xml", str(DOMAINS / "tiny-tcg.xml"),
                    "-o", str(pinned)])[0] == 0
    rc, out, err = pin_device(tmp_path, NIC, "--host", EL9, domain=pinned)
    assert rc == 0, err
    assert '<host csum="on" tso4="on" tso6="on" ecn="on" ufo="on"/>' in out
    assert "net1 host_uso=off: libvirt has no attribute for it" in err   # EL9's QEMU gives off by itself


def test_not_a_device(tmp_path: Path) -> None:
    rc, out, err = pin_device(tmp_path, "<disk type='file'/>", "--host", UBUNTU)
    assert (rc, out) == (1, "")
    assert err.startswith("vmplatform: error: ") and "<disk> is not a device vmplatform pins" in err
