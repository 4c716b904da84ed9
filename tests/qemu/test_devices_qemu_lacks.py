"""A device named as a transport of a governed device that this QEMU does not have is refused.

QEMU's vhost-vsock is modern-only: there is vhost-vsock-pci and -non-transitional, no
-transitional (QEMU 10.0.2 '-device help'). libvirt still builds vhost-vsock-pci-transitional
for <vsock model='virtio-transitional'> (its tests/qemuxmlconfdata/virtio-transitional), which
QEMU then refuses. vmplatform refuses it first, on every road and in the same words, as it
refuses any device it cannot pin; a device it does not govern at all is QEMU's to judge.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from vmplatform.libvirt.domain import VSOCK_MODELS
from vmplatform.model._toml import DATA_DIR
from vmplatform.model.machines import default_machine_catalog

DATA = Path(__file__).parents[1] / "data"
HOST = str(DATA / "hosts" / "debian13-6.12.json")
CATALOG = str(DATA_DIR / "machines" / "qemu-10.0.2-x86_64.json")
FRONT = ["qemu", "--dry-run", "--host", HOST, "--machine-catalog", CATALOG, "-machine", "pc-q35-10.0"]
REFUSAL = ("vmplatform: error: -device vsock0: QEMU 10.0.2 has no device vhost-vsock-pci-transitional\n"
           "  hint: see the device types of the QEMU that runs: -device help\n")


def _domain(tmp_path: Path, vsock_model: str) -> str:
    text = (DATA / "domains" / "tiny-tcg.xml").read_text()
    xml = text.replace("<memballoon model='none'/>", f"<memballoon model='none'/><vsock model='{vsock_model}'>"
                       "<cid auto='no' address='5'/></vsock>")
    path = tmp_path / "d.xml"
    path.write_text(xml)
    return str(path)


def test_the_argv_refuses_it() -> None:
    assert run_cli([*FRONT, "-device", "vhost-vsock-pci-transitional,id=vsock0,guest-cid=5"]) == (2, "", REFUSAL)


def test_the_domain_xml_refuses_it_in_the_same_words(tmp_path: Path) -> None:
    argv = ["libvirt", "pin", "--domain-xml", _domain(tmp_path, "virtio-transitional"), "--host", HOST]
    assert run_cli(argv) == (2, "", REFUSAL)


@pytest.mark.parametrize("model", ["virtio", "virtio-non-transitional"])
def test_the_vsock_models_qemu_has_are_pinned(tmp_path: Path, model: str) -> None:
    rc, out, err = run_cli(["libvirt", "pin", "--domain-xml", _domain(tmp_path, model), "--host", HOST])
    assert rc == 0, err
    assert '<qemu:device alias="vsock0">' in out and 'name="seqpacket"' in out


def test_a_device_vmplatform_does_not_govern_is_left_to_qemu() -> None:
    rc, out, err = run_cli([*FRONT, "-device", "frobnicator-pci,id=f0"])
    assert rc == 0, err
    assert "frobnicator-pci,id=f0" in out.splitlines()


def test_the_catalog_has_the_vsock_devices_libvirt_names_exactly_when_qemu_does() -> None:
    """The packaged catalog against the device list of QEMU 10.0.2 (qemu-10.0.2-bin '-device help')."""
    mc = default_machine_catalog()
    assert mc.qemu_version == "10.0.2"
    qemu_has = {"vhost-vsock-pci", "vhost-vsock-pci-non-transitional"}
    assert {d for d in VSOCK_MODELS.values() if mc.has_device(d)} == qemu_has


@pytest.mark.qemu
def test_the_installed_qemu_agrees() -> None:
    """The same, asked of the installed QEMU when it is the catalog's release."""
    from tests.harness.requirements import missing_qemu, skip_unless
    from vmplatform.qemu.binary import find_qemu

    skip_unless(missing_qemu)
    binary = find_qemu()
    version = subprocess.run([binary, "-version"], capture_output=True, text=True, check=True).stdout
    if "version 10.0.2" not in version:
        pytest.skip(f"the installed QEMU is not 10.0.2: {version.splitlines()[0]}")
    help_text = subprocess.run([binary, "-machine", "none", "-device", "help"], capture_output=True, text=True,
                               check=True).stdout
    listed = set(re.findall(r'^name "([^"]+)"', help_text, re.M))
    mc = default_machine_catalog()
    assert {d for d in VSOCK_MODELS.values() if d in listed} == {d for d in VSOCK_MODELS.values() if mc.has_device(d)}
