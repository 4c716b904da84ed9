"""The one VM model: every argv road produces the same devices and backends."""

from __future__ import annotations

import pytest

from vmplatform.errors import FileFormatError, UsageError
from vmplatform.model.accel import Accel
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.vm import Backend, Machine, Origin, VmModel, device, netdev
from vmplatform.qemu.argv import is_help_request, parse, read_config

MC = default_machine_catalog()
GOVERNED = {"virtio-net-device", "virtio-device", "virtio-iommu-pci", "vhost-vsock-device", "x86-machine"}


def nic_view(argv: list[str]) -> list[tuple[str, Backend | None]]:
    cl = parse(argv, MC)
    pairs, _ = cl.vm.resolution_input(MC, GOVERNED)
    return [(d.type, d.backend) for _, d in pairs]


def test_model_built_by_hand_resolves_alias_and_backend() -> None:
    vm = VmModel(Machine("pc-q35-10.0", Accel.KVM),
                 devices=(device("virtio-net", {"id": "net0", "netdev": "h0", "host_uso": False},
                                 aliases=MC.aliases),),
                 backends=(netdev("tap", "h0", {"vhost": True}),))
    dev = vm.devices[0]
    assert (dev.driver, dev.qom_type, dev.props["host_uso"], dev.origin) == \
        ("virtio-net", "virtio-net-pci", "off", Origin.DEVICE)
    assert vm.backend("h0") is not None and vm.backend("h0").backend is Backend.TAP_VHOST  # type: ignore[union-attr]


def test_aliases_come_from_the_binary_snapshot() -> None:
    # '-device help' of QEMU 10.0.2 x86_64: name "virtio-net-pci", bus PCI, alias "virtio-net"
    assert MC.aliases["virtio-net"] == "virtio-net-pci"
    assert MC.aliases["virtio-iommu"] == "virtio-iommu-pci"


@pytest.mark.parametrize("argv", [
    ["-netdev", "tap,id=h0,vhost=on", "-device", "virtio-net-pci,netdev=h0"],
    ["-netdev", '{"type":"tap","id":"h0","vhost":true}', "-device", '{"driver":"virtio-net-pci","netdev":"h0"}'],
    ["-netdev", '{"type":"tap","id":"h0","vhostfd":"4","fd":"3"}', "-device", "virtio-net,netdev=h0"],
    ["-nic", "tap,id=h0,vhost=on,model=virtio"],
    ["-nic", "tap,vhost=on,model=virtio-net-pci"],
])
def test_every_syntax_gives_the_same_nic(argv: list[str]) -> None:
    assert nic_view(argv) == [("virtio-net-pci", Backend.TAP_VHOST)]


def test_legacy_net_nic_on_the_hub_has_no_vnet_header() -> None:
    assert nic_view(["-net", "nic,model=virtio", "-net", "tap"]) == [("virtio-net-pci", Backend.NO_VNET_HDR)]
    assert nic_view(["-netdev", "tap,id=t", "-net", "nic,model=virtio,netdev=t"]) == [("virtio-net-pci", Backend.TAP)]


def test_nic_with_other_model_is_left_alone() -> None:
    cl = parse(["-nic", "user,model=e1000"], MC)
    assert cl.argv == ["-nic", "user,model=e1000"] and cl.vm.devices == ()


def test_readconfig_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    cfg = tmp_path / "vm.cfg"  # type: ignore[operator]
    cfg.write_text('[machine]\n  type = "q35"\n  accel = "kvm"\n[netdev "n0"]\n  type = "tap"\n'
                   '[device "d0"]\n  driver = "virtio-net"\n  netdev = "n0"\n'
                   '[global]\n  driver = "virtio-net-device"\n  property = "host_uso"\n  value = "off"\n')
    cl = parse(["-readconfig", str(cfg)], MC)
    assert cl.vm.machine == Machine("q35", Accel.KVM, {})
    assert [(d.id, d.qom_type, d.netdev) for d in cl.vm.devices] == [("d0", "virtio-net-pci", "n0")]
    assert [(g.driver, g.prop, g.value) for g in cl.vm.globals] == [("virtio-net-device", "host_uso", "off")]


def test_readconfig_syntax_errors_name_the_line() -> None:
    with pytest.raises(FileFormatError, match=r"x.cfg:2: expected"):
        read_config('[global]\n  driver virtio\n', "x.cfg")


def test_unknown_accelerator_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown accelerator 'frob'"):
        parse(["-accel", "frob"], MC)


@pytest.mark.parametrize("argv,want", [
    (["-machine", "help"], True), (["-device", "help"], True), (["-version"], True),
    (["-device", "virtio-net-pci,help"], True), (["-cpu", "?"], True),
    (["-machine", "q35", "-device", "virtio-net-pci"], False), (["-platform", "help"], False),
])
def test_help_requests(argv: list[str], want: bool) -> None:
    assert is_help_request(argv, MC) is want


def test_readconfig_legacy_net_sections_are_expanded_too(tmp_path: pytest.TempPathFactory) -> None:
    cfg = tmp_path / "net.cfg"  # type: ignore[operator]
    cfg.write_text('[net]\n  type = "nic"\n  model = "virtio"\n[net]\n  type = "tap"\n  script = "no"\n')
    cl = parse(["-readconfig", str(cfg)], MC)
    assert [(d.qom_type, d.netdev) for d in cl.vm.devices] == [("virtio-net-pci", "vmplatform-hubport0")]
    assert "-net" in cl.argv and "type=tap,script=no" in cl.argv
    pairs, _ = cl.vm.resolution_input(MC, GOVERNED)
    assert [d.backend for _, d in pairs] == [Backend.NO_VNET_HDR]
