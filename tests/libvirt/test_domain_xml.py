"""libvirt domain XML: read as libvirt's QEMU driver would, pinned the libvirt way,
the manifest kept in <metadata>. No daemon here (see test_libvirt_daemon.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.harness.corpus import DOMAINS, NETWORKS, report
from vmplatform import records
from vmplatform.errors import HostLacksFeatures
from vmplatform.libvirt import _xml
from vmplatform.libvirt.domain import Domain, qemu_argv, read_domain
from vmplatform.libvirt.metadata import NAMESPACE, manifest_of, with_manifest
from vmplatform.libvirt.network import networks_from
from vmplatform.libvirt.pin import pin
from vmplatform.model.machines import MachineCatalog
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.qemu.analysis import analyze
from vmplatform.resolution.layers import Layer
from vmplatform.resolution.manifest import Manifest, Pin, Scope, loads

QEMU_NS = "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"


def domain_xml(interfaces: str, virt: str = "kvm", extra: str = "") -> str:
    return (f"<domain type='{virt}' {QEMU_NS}>\n  <name>t</name>\n  <os>\n    <type arch='x86_64' "
            f"machine='pc-q35-10.0'>hvm</type>\n  </os>\n  <devices>\n{interfaces}\n  </devices>\n{extra}</domain>\n")


NETS = networks_from([str(p) for p in sorted(NETWORKS.glob("*.xml"))], system=False)


def read(text: str, host: HostReport) -> Domain:
    return read_domain(text, "t.xml", vhost_available=host.status("vhost-net") is FeatureStatus.SUPPORTED,
                       networks=NETS)[0]


def resolve_xml(text: str, host: HostReport, mc: MachineCatalog, platforms: PlatformSet,
                platform: str | None = None) -> Manifest:
    dom = read(text, host)
    return analyze(qemu_argv(dom), mc=mc, platforms=platforms, report=host,
                   platform=platforms.get(platform) if platform else None)[1]


def test_same_vm_config_as_the_equivalent_qemu_argv(mc: MachineCatalog, platforms: PlatformSet) -> None:
    """web1-kvm.xml is what libvirt runs as this argv: both resolve to the same VmConfig and pins."""
    host = report("ubuntu2404-6.8")
    dom = read((DOMAINS / "web1-kvm.xml").read_text(), host)
    from_xml, _ = analyze(qemu_argv(dom), mc=mc, platforms=platforms, report=host)
    argv = ["-machine", "pc-q35-10.0,accel=kvm",
            "-netdev", "tap,id=hostnet0,vhost=on", "-device",
            "virtio-net-pci,netdev=hostnet0,id=net0,host_tso4=off,guest_uso6=off",
            "-netdev", "user,id=hostnet1", "-device", "virtio-net-pci,netdev=hostnet1,id=net1"]
    from_argv, _ = analyze(argv, mc=mc, platforms=platforms, report=host)
    assert from_xml.resolution.config == from_argv.resolution.config
    assert from_xml.resolution.properties == from_argv.resolution.properties


@pytest.mark.parametrize(("virt", "driver", "host", "backend"), [
    ("kvm", "", "ubuntu2404-6.8", "tap-vhost"),              # libvirt opens /dev/vhost-net when it can
    ("kvm", "", "vm-debian12-6.18-pvm", "tap"),              # ... and silently does without it
    ("kvm", "<driver name='vhost'/>", "vm-debian12-6.18-pvm", "tap-vhost"),  # asked for: libvirt errors later
    ("kvm", "<driver name='qemu'/>", "ubuntu2404-6.8", "tap"),
    ("qemu", "<driver name='vhost'/>", "ubuntu2404-6.8", "tap"),  # TCG: libvirt never uses vhost
    ("qemu", "", "ubuntu2404-6.8", "tap"),
])
def test_vhost_decision_follows_libvirt(virt: str, driver: str, host: str, backend: str) -> None:
    xml = domain_xml(f"<interface type='bridge'><model type='virtio'/>{driver}</interface>", virt)
    assert read(xml, report(host)).interfaces[0].backend.value == backend


@pytest.mark.parametrize(("net_type", "backend"), [
    ("network", "tap"), ("bridge", "tap"), ("ethernet", "tap"), ("direct", "tap"),
    ("user", "none"), ("mcast", "none"), ("client", "none"), ("udp", "none"),
    ("vhostuser", "foreign"), ("vdpa", "foreign"), ("null", "unsupported"),
])
def test_backend_of_each_interface_type(net_type: str, backend: str) -> None:
    source = "<source network='default'/>" if net_type == "network" else ""
    xml = domain_xml(f"<interface type='{net_type}'>{source}<model type='virtio'/></interface>", "qemu")
    assert read(xml, report("el9-5.14")).interfaces[0].backend.value == backend


@pytest.mark.parametrize(("element", "attr", "prop"), [
    ("host", "csum", "csum"), ("host", "gso", "gso"), ("host", "tso4", "host_tso4"), ("host", "tso6", "host_tso6"),
    ("host", "ecn", "host_ecn"), ("host", "ufo", "host_ufo"), ("host", "mrg_rxbuf", "mrg_rxbuf"),
    ("guest", "csum", "guest_csum"), ("guest", "tso4", "guest_tso4"), ("guest", "tso6", "guest_tso6"),
    ("guest", "ecn", "guest_ecn"), ("guest", "ufo", "guest_ufo"),
])
def test_driver_attributes_map_to_qemu_properties(element: str, attr: str, prop: str) -> None:
    """libvirt src/qemu/qemu_command.c qemuBuildNicDevProps."""
    xml = domain_xml(f"<interface type='bridge'><model type='virtio'/><driver><{element} {attr}='off'/></driver>"
                     "</interface>")
    assert dict(read(xml, report("el9-5.14")).interfaces[0].props) == {prop: False}


def test_rss_attributes_and_overrides(mc: MachineCatalog, platforms: PlatformSet) -> None:
    override = ("<qemu:override><qemu:device alias='net0'><qemu:frontend>"
                "<qemu:property name='host_uso' type='bool' value='false'/>"
                "<qemu:property name='csum' type='remove'/>"
                "<qemu:property name='rx_queue_size' type='unsigned' value='1024'/>"
                "</qemu:frontend></qemu:device></qemu:override>\n")
    xml = domain_xml("<interface type='bridge'><model type='virtio'/><driver rss='on' rss_hash_report='on'>"
                     "<host csum='off'/></driver></interface>", extra=override)
    iface = read(xml, report("ubuntu2404-6.8")).interfaces[0]
    assert dict(iface.props) == {"rss": True, "hash": True, "host_uso": False, "rx_queue_size": 1024}


def test_commandline_globals_take_part(mc: MachineCatalog, platforms: PlatformSet) -> None:
    extra = ("<qemu:commandline><qemu:arg value='-global'/><qemu:arg value='virtio-net-device.host_uso=off'/>"
             "</qemu:commandline>\n")
    xml = domain_xml("<interface type='bridge'><model type='virtio'/></interface>", extra=extra)
    m = resolve_xml(xml, report("ubuntu2404-6.8"), mc, platforms)
    uso = [p for p in m.pins if p.prop == "host_uso"]
    assert [(p.value, p.source.value) for p in uso] == [("off", "user-global")]


def test_aliases_follow_libvirt() -> None:
    xml = domain_xml("<interface type='bridge'><model type='virtio'/><alias name='ua-uplink'/></interface>"
                     "<interface type='hostdev'><source/></interface>"
                     "<interface type='bridge'><model type='virtio'/><alias name='net3'/></interface>"
                     "<interface type='bridge'><model type='virtio'/></interface>"
                     "<interface type='network'><source network='default'/><model type='e1000'/></interface>")
    ifaces = read(xml, report("el9-5.14")).interfaces
    assert [i.alias for i in ifaces] == ["ua-uplink", "hostdev0", "net3", "net4", "net5"]
    assert [i.device for i in ifaces] == ["virtio-net-pci", None, "virtio-net-pci", "virtio-net-pci", None]


@pytest.mark.parametrize(("model", "address", "device"), [
    ("virtio", "", "virtio-net-pci"), ("virtio-transitional", "", "virtio-net-pci-transitional"),
    ("virtio-non-transitional", "", "virtio-net-pci-non-transitional"),
    ("virtio", "<address type='virtio-mmio'/>", "virtio-net-device"), ("virtio", "<address type='ccw'/>",
                                                                         "virtio-net-ccw"),
])
def test_virtio_device_name(model: str, address: str, device: str) -> None:
    xml = domain_xml(f"<interface type='bridge'><model type='{model}'/>{address}</interface>")
    assert read(xml, report("el9-5.14")).interfaces[0].device == device


def test_smm_feature_is_a_machine_property(mc: MachineCatalog, platforms: PlatformSet) -> None:
    xml = domain_xml("", extra="").replace("</os>", "</os>\n  <features><smm state='off'/></features>")
    m = resolve_xml(xml, report("ubuntu2404-6.8"), mc, platforms)
    assert [(p.prop, p.value, p.source.value) for p in m.pins if p.device == "machine"] == [("smm", "off",
                                                                                            "user-device")]


# -- pinning ------------------------------------------------------------------------------------------

def pinned(path_or_text: str, host: HostReport, mc: MachineCatalog, platforms: PlatformSet,
           platform: str | None = None) -> tuple[str, Manifest]:
    text = (DOMAINS / path_or_text).read_text() if path_or_text.endswith(".xml") else path_or_text
    dom, doc = read_domain(text, "t.xml", vhost_available=host.status("vhost-net") is FeatureStatus.SUPPORTED,
                           networks=NETS)
    rw, manifest = analyze(qemu_argv(dom), mc=mc, platforms=platforms, report=host,
                           platform=platforms.get(platform) if platform else None)
    pin(doc, dom, rw.resolution, manifest)
    return _xml.serialize(doc, text), manifest


def test_pin_expresses_uso_as_qemu_override(mc: MachineCatalog, platforms: PlatformSet) -> None:
    out, _ = pinned("tiny-tcg.xml", report("ubuntu2404-6.8"), mc, platforms, "linux-6.1")
    assert ('<qemu:override>\n    <qemu:device alias="net0">\n      <qemu:frontend>\n'
            '        <qemu:property name="host_uso" type="bool" value="false"/>\n'
            '        <qemu:property name="guest_uso4" type="bool" value="false"/>\n'
            '        <qemu:property name="guest_uso6" type="bool" value="false"/>\n'
            '      </qemu:frontend>\n    </qemu:device>\n  </qemu:override>\n</domain>\n') in out
    assert '<host csum="on" tso4="on" tso6="on" ecn="on" ufo="on"/>' in out
    assert '<guest csum="on" tso4="on" tso6="on" ecn="on" ufo="on"/>' in out
    assert 'xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"' in out


def test_pinned_xml_resolves_to_the_same_values_from_any_host(mc: MachineCatalog, platforms: PlatformSet) -> None:
    """After pinning, the domain carries its values: another host's default no longer matters."""
    out, manifest = pinned("web1-kvm.xml", report("ubuntu2404-6.8"), mc, platforms)
    again = resolve_xml(out, report("ubuntu2404-6.8"), mc, platforms, "linux-5.14")
    assert [(p.device, p.prop, p.value) for p in again.pins] == \
        [(p.device, p.prop, p.value) for p in manifest.pins]
    assert {p.source.value for p in again.pins} == {"user-device"}


def test_pin_keeps_everything_else_and_is_idempotent(mc: MachineCatalog, platforms: PlatformSet) -> None:
    host = report("ubuntu2404-6.8")
    out, manifest = pinned("web1-kvm.xml", host, mc, platforms)
    assert "<!-- created by the fleet manager -->" in out
    assert '<app:tag xmlns:app="https://example.org/app/1">frontend</app:tag>' in out
    assert '<source network="default"/>' in out
    assert manifest_of(out, "out") == manifest
    twice, _ = pinned(out, host, mc, platforms)
    assert manifest_of(twice, "twice") is not None
    assert _strip_manifest(twice) == _strip_manifest(out)


def _strip_manifest(text: str) -> str:
    return text[:text.index("<vmplatform:manifest")] + text[text.index("</vmplatform:manifest>"):]


# -- manifest in <metadata> -------------------------------------------------------------------------

def sample_manifest() -> Manifest:
    return loads((DOMAINS.parent / "manifests" / "el9-5.14-default.json").read_text(), "sample")


def test_metadata_round_trip_creates_metadata_after_description() -> None:
    text = (DOMAINS / "tiny-tcg.xml").read_text()
    out = with_manifest(text, sample_manifest(), "tiny")
    assert manifest_of(out, "out") == sample_manifest()
    lines = out.splitlines()
    desc = next(i for i, line in enumerate(lines) if "<description>" in line)
    assert lines[desc + 1] == "  <metadata>"
    assert lines[desc + 2].startswith(f'    <vmplatform:manifest xmlns:vmplatform="{NAMESPACE}"><![CDATA[{{')
    assert lines[desc + 3] == "  </metadata>"


def test_metadata_replaces_an_older_manifest_and_keeps_other_applications() -> None:
    text = (DOMAINS / "web1-kvm.xml").read_text()
    first = with_manifest(text, sample_manifest(), "web1")
    other = records.replace(sample_manifest(), platform="linux-5.14")
    second = with_manifest(first, other, "web1")
    assert manifest_of(second, "web1") == other
    assert second.count("<vmplatform:manifest") == 1
    assert '<app:tag xmlns:app="https://example.org/app/1">frontend</app:tag>' in second


def test_domain_without_manifest() -> None:
    assert manifest_of((DOMAINS / "tiny-tcg.xml").read_text(), "tiny") is None


def test_manifest_as_plain_text_is_read_too() -> None:
    """libvirt may store the CDATA section as text; both read the same."""
    from xml.sax.saxutils import escape

    from vmplatform.libvirt.metadata import compact_json

    text = (DOMAINS / "tiny-tcg.xml").read_text().replace(
        "<memory", f"<metadata><x:manifest xmlns:x='{NAMESPACE}'>{escape(compact_json(sample_manifest()))}"
                   "</x:manifest></metadata>\n  <memory")
    assert manifest_of(text, "tiny") == sample_manifest()


texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=20)


@settings(max_examples=50, deadline=None)
@given(texts, texts, st.sampled_from(list(Scope)), st.lists(texts, max_size=3))
def test_any_manifest_round_trips_through_domain_xml(machine: str, required_by: str, scope: Scope,
                                                     hosts: list[str]) -> None:
    m = records.replace(sample_manifest(), machine=machine, scope=scope, scope_hosts=tuple(hosts),
                            requires={"tap-uso": required_by + "]]>"},
                            pins=(Pin("net0", "virtio-net-pci", "virtio-net-device", "host_uso", "on", "tap-uso",
                                      Layer.PLATFORM),))
    out = with_manifest((DOMAINS / "web1-kvm.xml").read_text(), m, "web1")
    assert manifest_of(out, "web1") == m


def test_refuses_to_analyse_vhost_on_a_host_without_it(mc: MachineCatalog, platforms: PlatformSet) -> None:
    # smm off: the PVM host also lacks KVM SMM, which q35 KVM guests keep under every platform
    xml = domain_xml("<interface type='bridge'><model type='virtio'/><driver name='vhost'/></interface>",
                     extra="<features><smm state='off'/></features>\n")
    with pytest.raises(HostLacksFeatures) as exc:
        resolve_xml(xml, report("vm-debian12-6.18-pvm"), mc, platforms)
    assert [m.feature for m in exc.value.missing] == ["vhost-net"]
