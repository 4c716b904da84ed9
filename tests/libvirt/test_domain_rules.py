"""Domain XML rules libvirt applies before QEMU sees anything, each checked against what vmplatform
reads (libvirt sources cited in src/vmplatform/libvirt/domain.py; where noted, also seen with the real
libvirtd 11.3 of this machine through 'virsh domxml-to-native')."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.harness.corpus import DOMAINS, NETWORKS, report
from vmplatform.libvirt import _xml
from vmplatform.libvirt._xml import DomainXmlError
from vmplatform.libvirt.domain import Domain, qemu_argv, read_domain
from vmplatform.libvirt.network import Networks, networks_from, read_network
from vmplatform.libvirt.pin import pin
from vmplatform.model.machines import MachineCatalog
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.report import HostReport
from vmplatform.qemu.analysis import analyze
from vmplatform.resolution.manifest import Manifest

NETS = networks_from([str(p) for p in sorted(NETWORKS.glob("*.xml"))], system=False)
QEMU_NS = "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"


def dom(devices: str, virt: str = "kvm", os_extra: str = "", os_attrs: str = "", features: str = "",
        arch: str = "x86_64", machine: str = "pc-q35-10.0") -> str:
    feats = f"  <features>{features}</features>\n" if features else ""
    return (f"<domain type='{virt}' {QEMU_NS}>\n  <name>t</name>\n  <os{os_attrs}>\n    <type arch='{arch}' "
            f"machine='{machine}'>hvm</type>{os_extra}\n  </os>\n{feats}  <devices>\n{devices}\n  </devices>\n"
            "</domain>\n")


def read(text: str, networks: Networks = NETS) -> Domain:
    return read_domain(text, "t.xml", vhost_available=False, networks=networks)[0]


def pinned(text: str, host: HostReport, mc: MachineCatalog, platforms: PlatformSet,
           platform: str | None = None) -> tuple[str, Manifest, Domain]:
    d, doc = read_domain(text, "t.xml", vhost_available=False, networks=NETS)
    rw, manifest = analyze(qemu_argv(d), mc=mc, platforms=platforms, report=host,
                           platform=platforms.get(platform) if platform else None)
    pin(doc, d, rw.resolution, manifest)
    return _xml.serialize(doc, text), manifest, d


# -- <vsock> ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("xml", "device"), [
    ("<vsock model='virtio'><cid auto='yes'/></vsock>", "vhost-vsock-pci"),
    ("<vsock><cid auto='no' address='5'/></vsock>", "vhost-vsock-pci"),   # libvirtd 11.3: no model is virtio
    ("<vsock model='virtio-transitional'/>", "vhost-vsock-pci-transitional"),
    ("<vsock model='virtio-non-transitional'/>", "vhost-vsock-pci-non-transitional"),
    ("<vsock model='virtio'><address type='virtio-mmio'/></vsock>", "vhost-vsock-device"),
    ("<vsock model='virtio'><address type='ccw'/></vsock>", "vhost-vsock-ccw"),
])
def test_vsock_device_as_libvirt_builds_it(xml: str, device: str) -> None:
    vs = read(dom(xml)).vsock
    assert vs is not None and (vs.alias, vs.device) == ("vsock0", device)


def test_vsock_seqpacket_is_pinned_and_written_as_override(mc: MachineCatalog, platforms: PlatformSet) -> None:
    """seqpacket=auto follows the host kernel (vhost-vsock-seqpacket, Linux 5.14): pinned per platform."""
    host = report("ubuntu2404-6.8")
    out, manifest, _ = pinned(dom("<vsock model='virtio'><cid auto='no' address='5'/></vsock>"), host, mc,
                              platforms, "linux-6.1")
    assert [(p.device, p.prop, p.value, p.source.value) for p in manifest.pins if p.device == "vsock0"] == \
        [("vsock0", "seqpacket", "on", "platform")]
    assert ('<qemu:device alias="vsock0">\n      <qemu:frontend>\n'
            '        <qemu:property name="seqpacket" type="string" value="on"/>') in out
    assert {r for r in manifest.requires} >= {"vhost-vsock-seqpacket"}
    again = read(out)   # the pinned XML carries the value: QEMU gets "seqpacket":"on" (OnOffAuto: a string)
    assert again.vsock is not None and dict(again.vsock.props) == {"seqpacket": "on"}
    old, manifest_old, _ = pinned(dom("<vsock model='virtio'/>"), host, mc, platforms, "linux-5.10")
    assert [(p.prop, p.value) for p in manifest_old.pins if p.device == "vsock0"] == [("seqpacket", "off")]
    assert '<qemu:property name="seqpacket" type="string" value="off"/>' in old


# -- <interface type='network'> on a hostdev pool -----------------------------------------------------

def test_network_definitions_decide_the_interface_type() -> None:
    assert NETS.get("default") is not None and NETS.get("default").actual_type == "bridge"   # type: ignore[union-attr]
    assert NETS.get("sriov-pool").actual_type == "hostdev"                                  # type: ignore[union-attr]
    assert NETS.get("macvtap-pool").actual_type == "direct"   # a <networkstatus> file     # type: ignore[union-attr]
    assert read_network("<network><name>r</name><forward mode='route'/><bridge name='b'/></network>",
                        "r").actual_type == "bridge"


def test_hostdev_pool_interface_is_not_a_tap(mc: MachineCatalog, platforms: PlatformSet) -> None:
    xml = dom("<interface type='network'><source network='sriov-pool'/><model type='virtio'/></interface>"
              "<interface type='network'><source network='default'/><model type='virtio'/></interface>")
    d = read(xml)
    assert [(i.alias, i.net_type, i.backend.value) for i in d.interfaces] == [("hostdev0", "hostdev", "hostdev"),
                                                                        ("net0", "bridge", "tap")]
    argv = qemu_argv(d)
    assert "hostdev0" not in " ".join(argv) and argv.count("-netdev") == 1
    _, manifest = analyze(argv, mc=mc, platforms=platforms, report=report("ubuntu2404-6.8"))
    assert {p.device for p in manifest.pins} == {"net0", "machine"}


def test_hostdev_aliases_count_hostdev_elements_too() -> None:
    xml = dom("<hostdev mode='subsystem' type='pci'><alias name='hostdev0'/></hostdev>"
              "<interface type='network'><source network='sriov-pool'/></interface>"
              "<interface type='hostdev'><model type='virtio'/></interface>")
    assert [i.alias for i in read(xml).interfaces] == ["hostdev1", "hostdev2"]


def test_status_xml_actual_type_wins() -> None:
    xml = dom("<interface type='network'><source network='nowhere'/><actual type='hostdev'/>"
              "<model type='virtio'/></interface>")
    assert read(xml, Networks()).interfaces[0].backend.value == "hostdev"


def test_unknown_network_is_refused_by_name() -> None:
    xml = dom("<interface type='network'><source network='lab'/><model type='virtio'/></interface>")
    with pytest.raises(DomainXmlError) as exc:
        read(xml, Networks())
    assert exc.value.message == ("t.xml: libvirt network 'lab' unknown here: whether an interface on it is a TAP or a "
                              "passed-through host device (<forward mode='hostdev'>) depends on its definition")
    assert "--network-xml FILE ('virsh net-dumpxml NAME > FILE')" in (exc.value.hint or "")


def test_network_found_in_libvirt_dirs(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    d = Path(str(tmp_path))
    (d / "lab.xml").write_text((NETWORKS / "sriov-pool.xml").read_text().replace("sriov-pool", "lab"))
    xml = dom("<interface type='network'><source network='lab'/><model type='virtio'/></interface>")
    assert read(xml, Networks(dirs=(d,))).interfaces[0].backend.value == "hostdev"


# -- <model type=..> ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "device", "backend"), [
    ("ViRtIo", "virtio-net-pci", "tap"),                      # libvirt's names: case-insensitive
    ("VIRTIO-transitional", "virtio-net-pci-transitional", "tap"),
    ("virtio-net-pci", "virtio-net-pci", "tap-novnet"),      # any other name goes to QEMU verbatim, no vnet hdr
    ("E1000E", None, "tap-novnet"),
])
def test_model_names(model: str, device: str | None, backend: str) -> None:
    iface = read(dom(f"<interface type='ethernet'><model type='{model}'/></interface>")).interfaces[0]
    assert (iface.device, iface.backend.value) == (device, backend)


def test_mixed_case_virtio_gets_the_same_pins_as_virtio(mc: MachineCatalog, platforms: PlatformSet) -> None:
    host = report("ubuntu2404-6.8")
    _, lower, _ = pinned(dom("<interface type='ethernet'><model type='virtio'/></interface>"), host, mc, platforms)
    _, mixed, _ = pinned(dom("<interface type='ethernet'><model type='ViRtIo'/></interface>"), host, mc, platforms)
    assert mixed.pins == lower.pins and any(p.prop == "host_uso" for p in mixed.pins)


# -- secure boot and SMM ------------------------------------------------------------------------------

SECURE_AUTO = dict(os_attrs=" firmware='efi'",
                   os_extra="<firmware><feature enabled='yes' name='secure-boot'/></firmware>")
SECURE_LOADER = "<loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.ms.fd</loader>"


def test_secure_boot_firmware_turns_smm_on(mc: MachineCatalog, platforms: PlatformSet) -> None:
    xml = dom("<interface type='ethernet'><model type='virtio'/></interface>", **SECURE_AUTO)
    d = read(xml)
    assert d.secure_boot and dict(d.machine_props) == {"smm": "on"}
    # linux-3.8 does not promise kvm-smm (Linux 4.2): without the rule, pin would write smm=off and the firmware would
    # not boot (libvirt refuses SMM off for a requires-smm firmware)
    out, manifest, _ = pinned(xml, report("ubuntu2404-6.8"), mc, platforms, "linux-3.8")
    assert "<smm" not in out
    assert [(p.prop, p.value, p.source.value) for p in manifest.pins if p.device == "machine"] == \
        [("smm", "on", "user-device")]
    assert "kvm-smm" in manifest.requires


def test_without_secure_boot_the_platform_still_decides_smm(mc: MachineCatalog, platforms: PlatformSet) -> None:
    xml = dom("<interface type='ethernet'><model type='virtio'/></interface>", os_attrs=" firmware='efi'",
              os_extra="<firmware><feature enabled='no' name='secure-boot'/></firmware>")
    out, _, d = pinned(xml, report("ubuntu2404-6.8"), mc, platforms, "linux-3.8")
    assert not d.secure_boot and '<smm state="off"/>' in out


@pytest.mark.parametrize(("os_extra", "features", "message"), [
    (SECURE_LOADER, "", "t.xml: <loader secure='yes'> without <smm state='on'/>"),
    (SECURE_LOADER, "<smm state='off'/>", "t.xml: a secure-boot firmware with <smm state='off'/>"),
])
def test_secure_boot_without_smm_is_refused_as_libvirt_does(os_extra: str, features: str, message: str) -> None:
    """libvirtd 11.3 domxml-to-native on the first: 'Secure boot requires SMM feature enabled'."""
    with pytest.raises(DomainXmlError) as exc:
        read(dom("", os_extra=os_extra, features=features))
    assert exc.value.message == message


def test_manual_secure_loader_with_smm_on() -> None:
    d = read(dom("", os_extra=SECURE_LOADER, features="<smm state='on'/>"))
    assert d.secure_boot and dict(d.machine_props) == {"smm": "on"}


# -- architecture -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("arch", "machine"), [("aarch64", "virt"), ("s390x", "s390-ccw-virtio"),
                                               ("i686", "pc-i440fx-10.0")])
def test_non_x86_64_is_refused_naming_the_architecture(tmp_path: pytest.TempPathFactory, arch: str,
                                                       machine: str) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "arm.xml"
    path.write_text(dom("<interface type='user'><model type='virtio'/></interface>", arch=arch, machine=machine))
    rc, out, err = run_cli(["libvirt", "pin", "--host", str(DOMAINS.parent / "hosts" / "el9-5.14.json"),
                            "--domain-xml", str(path)])
    assert (rc, out) == (1, "")
    assert err.startswith(f"vmplatform: error: {path}: architecture '{arch}' (<os><type arch='{arch}'>) is not "
                          "supported: vmplatform knows the machine types and host-dependent properties of "
                          "qemu-system-x86_64 only\n")
    assert "Traceback" not in err and "unknown machine" not in err


def test_secure_boot_domain_on_a_host_without_smm_is_refused(mc: MachineCatalog, platforms: PlatformSet) -> None:
    """A KVM without SMM (PVM here) cannot run the firmware: refused naming kvm-smm, not pinned smm=off."""
    from vmplatform.errors import HostLacksFeatures

    xml = dom("<interface type='ethernet'><model type='virtio'/></interface>", **SECURE_AUTO)
    with pytest.raises(HostLacksFeatures) as exc:
        pinned(xml, report("vm-debian12-6.18-pvm"), mc, platforms, "linux-3.8")
    assert [m.feature for m in exc.value.missing] == ["kvm-smm"]


# -- <iommu model='virtio'> ---------------------------------------------------------------------------

def test_virtio_iommu_granule_is_pinned_as_override(mc: MachineCatalog, platforms: PlatformSet) -> None:
    """granule (host page size dependent) is resolved as for the argv libvirt passes, and written through
    <qemu:override> on iommu0 (a GranuleMode: a string)."""
    host = report("ubuntu2404-6.8")
    out, manifest, d = pinned(dom("<iommu model='virtio'/>"), host, mc, platforms)
    assert d.iommu is not None and (d.iommu.alias, d.iommu.device) == ("iommu0", "virtio-iommu")
    ours = [(p.device, p.device_type, p.prop, p.value) for p in manifest.pins if p.device == "iommu0"]
    _, by_argv = analyze(["-machine", "pc-q35-10.0,accel=kvm", "-device",
                          '{"driver":"virtio-iommu","id":"iommu0","bus":"pcie.0","addr":"0x2"}'],
                         mc=mc, platforms=platforms, report=host)
    assert ours == [(p.device, p.device_type, p.prop, p.value) for p in by_argv.pins if p.device == "iommu0"]
    assert [(dev, prop) for dev, _, prop, _ in ours] == [("iommu0", "granule")]
    value = ours[0][3]
    assert f'<qemu:property name="granule" type="string" value="{value}"/>' in out
    again = read(out)
    assert again.iommu is not None and dict(again.iommu.props) == {"granule": value}


@pytest.mark.parametrize(("granule", "value"), [("<granule mode='host'/>", "host"),
                                                ("<granule size='64' unit='KiB'/>", "64k")])
def test_virtio_iommu_granule_from_newer_libvirt(granule: str, value: str) -> None:
    d = read(dom(f"<iommu model='virtio'><driver>{granule}</driver></iommu>"))
    assert d.iommu is not None and dict(d.iommu.props) == {"granule": value}


def test_virtio_mem_block_size_from_the_xml() -> None:
    d = read(dom("<memory model='virtio-mem'><target><size unit='KiB'>1048576</size><node>0</node>"
                 "<block unit='KiB'>2048</block><requested unit='KiB'>0</requested></target></memory>"
                 "<memory model='virtio-mem'><target><block unit='MiB'>4</block></target></memory>"
                 "<memory model='dimm'><target><size unit='KiB'>1048576</size></target></memory>"))
    assert [(m.alias, m.device, dict(m.props)) for m in d.memory] == [
        ("virtiomem0", "virtio-mem-pci", {"block-size": 2097152}),
        ("virtiomem1", "virtio-mem-pci", {"block-size": 4194304})]
