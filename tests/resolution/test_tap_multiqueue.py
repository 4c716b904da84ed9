"""A tap netdev with more than one queue depends on tun-multiqueue: the manifest records it.

tun-multiqueue governs no property (QEMU fails to start without IFF_MULTI_QUEUE instead of
changing the guest ABI), so nothing but the netdev says that the VM needs it; a host without it
cannot receive the VM.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import HostReport, loads
from vmplatform.qemu.analysis import analyze
from vmplatform.resolution.manifest import Manifest, check_manifest
from vmplatform.resolution.resolve import TUN_MULTIQUEUE

HOST = Path(__file__).parents[1] / "data" / "hosts" / "debian13-6.12.json"


def _report(multiqueue: str = "supported") -> HostReport:
    obj = json.loads(HOST.read_text())
    for f in obj["features"]:
        if f["id"] == TUN_MULTIQUEUE:
            f["status"] = multiqueue
    return loads(json.dumps(obj), str(HOST))


def _manifest(netdev: str, device: str = "virtio-net-pci,netdev=n0,id=net0") -> Manifest:
    argv = ["-machine", "pc-q35-10.0,accel=tcg", "-netdev", netdev, "-device", device]
    return analyze(argv, mc=default_machine_catalog(), platforms=load_platforms(), report=_report())[1]


def test_the_feature_is_the_catalogs() -> None:
    assert TUN_MULTIQUEUE in load_platforms().catalog


@pytest.mark.parametrize(("netdev", "required_by"), [
    ("tap,id=n0,script=no,downscript=no,queues=4", "virtio-net-pci net0 netdev queues=4"),
    ("tap,id=n0,vnet_hdr=off,script=no,downscript=no,queues=2", "virtio-net-pci net0 netdev queues=2"),
    ('{"type":"tap","id":"n0","fds":"33:34:35","vhost":false}', "virtio-net-pci net0 netdev queues=3"),
])
def test_several_tap_queues_require_it(netdev: str, required_by: str) -> None:
    assert _manifest(netdev).requires[TUN_MULTIQUEUE] == required_by


@pytest.mark.parametrize("netdev", [
    "tap,id=n0,script=no,downscript=no",
    "tap,id=n0,script=no,downscript=no,queues=1",
    '{"type":"tap","id":"n0","fd":"33"}',
    "user,id=n0,queues=4",          # not a TAP: no IFF_MULTI_QUEUE involved
])
def test_one_queue_or_no_tap_does_not(netdev: str) -> None:
    assert TUN_MULTIQUEUE not in _manifest(netdev).requires


def test_a_host_without_it_cannot_receive_the_vm() -> None:
    m = _manifest("tap,id=n0,script=no,downscript=no,queues=4")
    assert check_manifest(m, _report(), load_platforms()).result.ok
    verdict = check_manifest(m, _report("unsupported"), load_platforms())
    assert not verdict.result.ok and verdict.responsible == (TUN_MULTIQUEUE,)
    assert "lacks tun-multiqueue" in verdict.message and "netdev queues=4" in verdict.message


def test_a_libvirt_interface_with_several_queues_requires_it() -> None:
    """<driver queues='N'>: libvirt opens N multi-queue TAP fds and hands them to QEMU (fds=A:B:...)."""
    from vmplatform.libvirt.domain import qemu_argv, read_domain

    text = (Path(__file__).parents[1] / "data" / "domains" / "tiny-tcg.xml").read_text()
    platforms, mc = load_platforms(), default_machine_catalog()
    for driver, needed in (("<driver queues='4'/>", True), ("<driver queues='1'/>", False), ("", False)):
        xml = text.replace("<model type='virtio'/>", f"<model type='virtio'/>{driver}")
        domain, _ = read_domain(xml, "tiny-tcg.xml", vhost_available=False)
        m = analyze(qemu_argv(domain), mc=mc, platforms=platforms, report=_report())[1]
        assert (TUN_MULTIQUEUE in m.requires) is needed, driver


def test_a_libvirt_queues_that_is_no_number_is_refused() -> None:
    from vmplatform.libvirt._xml import DomainXmlError
    from vmplatform.libvirt.domain import read_domain

    text = (Path(__file__).parents[1] / "data" / "domains" / "tiny-tcg.xml").read_text()
    xml = text.replace("<model type='virtio'/>", "<model type='virtio'/><driver queues='many'/>")
    with pytest.raises(DomainXmlError, match=r"<driver queues='many'>: expected a number"):
        read_domain(xml, "tiny-tcg.xml", vhost_available=False)
