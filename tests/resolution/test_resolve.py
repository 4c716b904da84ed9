"""Resolution precedence: device default < machine type < platform < -global < -device."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmplatform.errors import HostLacksFeatures, UsageError
from vmplatform.model.accel import Accel
from vmplatform.model.features import Catalog, Category
from vmplatform.model.machines import MachineCatalog, load_machine_catalog
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.vm import Backend, VmConfig
from vmplatform.probe import FakeHost
from vmplatform.resolution.layers import Layer
from vmplatform.resolution.resolve import check_host, nic, parse_global, qemu_global_args, require_host, resolve

MACHINES = Path(__file__).parent.parent / "data" / "mini" / "machines.json"


@pytest.fixture(scope="module")
def mc() -> MachineCatalog:
    return load_machine_catalog(MACHINES)


def _vm(machine: str = "pc-q35-10.0", **kw: object) -> VmConfig:
    return VmConfig(machine=machine, devices=(nic(),), **kw)  # type: ignore[arg-type]


def test_platform_with_uso_pins_on(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    res = resolve(mc, mini_platforms, _vm(), mini_platforms.get("t-6.2"))
    assert res.value("net0", "host_uso") == "on"
    p = next(p for p in res.properties if p.prop == "host_uso")
    assert p.layer is Layer.PLATFORM and p.needs_feature
    assert res.needed_features() == ["tap-ufo", "tap-uso", "tap-vnet-hdr"]


def test_platform_without_uso_pins_off(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    res = resolve(mc, mini_platforms, _vm(), mini_platforms.get("t-6.0"))
    assert [res.value("net0", p) for p in ("host_uso", "guest_uso4", "guest_uso6")] == ["off"] * 3
    assert "tap-uso" not in res.needed_features()


def test_machine_type_off_beats_platform(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    res = resolve(mc, mini_platforms, _vm("pc-q35-8.1"), mini_platforms.get("t-6.2"))
    p = next(p for p in res.properties if p.prop == "host_uso")
    assert p.value == "off" and p.layer is Layer.MACHINE_TYPE


def test_compat_on_ancestor_type_applies(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    # pc-q35-7.0 sets virtio-device.queue_reset=false; virtio-net-pci proxies a virtio-device.
    cfg = VmConfig("pc-q35-7.0", (nic(backend=Backend.TAP_VHOST),))
    res = resolve(mc, mini_platforms, cfg, mini_platforms.get("t-6.2"))
    assert res.value("net0", "queue_reset") == "off"


def test_vhost_only_properties_skip_plain_tap(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    res = resolve(mc, mini_platforms, _vm(), mini_platforms.get("t-old"))
    assert all(p.prop != "queue_reset" for p in res.properties)


def test_user_global_and_device_beat_platform(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    cfg = VmConfig("pc-q35-10.0", (nic(props={"guest_uso4": "on"}),),
                   user_globals=(parse_global("virtio-net-device.host_uso=on"),))
    res = resolve(mc, mini_platforms, cfg, mini_platforms.get("t-6.0"))
    assert res.value("net0", "host_uso") == "on"
    assert res.value("net0", "guest_uso4") == "on"
    assert res.value("net0", "guest_uso6") == "off"
    layers = {p.prop: p.layer for p in res.properties}
    assert layers["host_uso"] is Layer.USER_GLOBAL and layers["guest_uso4"] is Layer.USER_DEVICE


def test_backend_without_vnet_hdr_never_claims_offloads(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    res = resolve(mc, mini_platforms, VmConfig("pc-q35-10.0", (nic(backend=Backend.NO_VNET_HDR),)),
                  mini_platforms.get("t-6.2"))
    assert {p.prop: p.value for p in res.properties if p.device == "net0"} == {
        "csum": "off", "host_ufo": "off", "host_uso": "off", "guest_uso4": "off", "guest_uso6": "off"}
    assert res.needed_features() == []


def test_backend_without_vnet_hdr_beats_the_user(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    # virtio_net_get_features() clears the offload bits for a peer without a vnet header whatever
    # -device or -global set: a user netdev with csum=on offers no CSUM and needs no TAP feature.
    cfg = VmConfig("pc-q35-10.0", (nic(backend=Backend.NO_VNET_HDR, props={"csum": "on", "host_uso": "on"}),),
                   user_globals=(parse_global("virtio-net-device.guest_uso4=on"),))
    res = resolve(mc, mini_platforms, cfg, mini_platforms.get("t-6.2"))
    got = {p.prop: (p.value, p.layer) for p in res.properties if p.device == "net0"}
    assert got["csum"] == ("off", Layer.USER_DEVICE) and got["host_uso"] == ("off", Layer.USER_DEVICE)
    assert got["guest_uso4"] == ("off", Layer.BACKEND)
    assert res.needed_features() == []


def test_kvm_machine_property_only_under_kvm(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    kvm = resolve(mc, mini_platforms, _vm(accel=Accel.KVM), mini_platforms.get("t-6.2"))
    assert kvm.value("machine", "smm") == "off"   # no platform promises an optional feature
    tcg = resolve(mc, mini_platforms, _vm(accel=Accel.TCG), mini_platforms.get("t-6.2"))
    with pytest.raises(KeyError):
        tcg.value("machine", "smm")


def test_host_lacking_feature_is_a_hard_error(mc: MachineCatalog, mini_catalog: Catalog,
                                              mini_platforms: PlatformSet) -> None:
    res = resolve(mc, mini_platforms, _vm(), mini_platforms.get("t-6.2"))
    old_host = FakeHost.with_features(["tap-vnet-hdr", "tap-ufo"], hostname="el9").run(mini_catalog)
    with pytest.raises(HostLacksFeatures) as exc:
        require_host(res, old_host, mini_platforms)
    text = str(exc.value)
    assert text.startswith("host el9 cannot run this VM:\n"
                           "  - lacks tap-uso (Linux >= 6.2 / platform t-6.2), required by virtio-net-pci net0: "
                           "host_uso=on (platform t-6.2 guarantees tap-uso)\n"
                           "    probe: fake host: tun-offload: absent")
    assert [m.feature for m in exc.value.missing] == ["tap-uso"]


def test_qemu_args(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    res = resolve(mc, mini_platforms, _vm(accel=Accel.TCG), mini_platforms.get("t-6.0"))
    assert qemu_global_args(res) == [
        "-global", "virtio-net-device.csum=on", "-global", "virtio-net-device.host_ufo=on",
        "-global", "virtio-net-device.host_uso=off", "-global", "virtio-net-device.guest_uso4=off",
        "-global", "virtio-net-device.guest_uso6=off"]


@pytest.mark.parametrize("bad", ["host_uso=on", "virtio-net-device.host_uso", ".x=1", "a.=1"])
def test_parse_global_rejects(bad: str) -> None:
    with pytest.raises(UsageError, match="expected DRIVER.PROPERTY=VALUE"):
        parse_global(bad)


# -- laws -----------------------------------------------------------------------

PLATFORMS = st.sampled_from(["t-old", "t-6.0", "t-6.2", "t-distro"])
MACHINE = st.sampled_from(["pc-q35-10.0", "pc-q35-8.1", "pc-q35-7.0"])
PROPS = ["csum", "host_ufo", "host_uso", "guest_uso4", "guest_uso6", "queue_reset"]
ONOFF = st.sampled_from(["on", "off"])
BACKEND = st.sampled_from(list(Backend))


@settings(max_examples=150, deadline=None)
@given(machine=MACHINE, plat=PLATFORMS, backend=BACKEND,
       globals_=st.dictionaries(st.sampled_from(PROPS), ONOFF, max_size=3),
       dev_props=st.dictionaries(st.sampled_from(PROPS), ONOFF, max_size=3),
       host=st.frozensets(st.sampled_from(["tap-vnet-hdr", "tap-ufo", "tap-uso", "vhost-net",
                                           "vhost-net-ring-reset"])),
       unknown=st.frozensets(st.sampled_from(["tap-uso", "vhost-net", "vhost-net-ring-reset"])))
def test_precedence_laws(mc: MachineCatalog, mini_catalog: Catalog, mini_platforms: PlatformSet, machine: str,
                         plat: str, backend: Backend, globals_: dict[str, str], dev_props: dict[str, str],
                         host: frozenset[str], unknown: frozenset[str]) -> None:
    platform = mini_platforms.get(plat)
    cfg = VmConfig(machine, (nic(backend=backend, props=dev_props),), accel=Accel.TCG,
                   user_globals=tuple(("virtio-net-device", k, v) for k, v in globals_.items()))
    res = resolve(mc, mini_platforms, cfg, platform)
    machine_type = mc.get(machine)
    for p in res.properties:
        gp = next(g for g in mini_catalog.get(p.feature).governs if g.prop == p.prop)
        if backend is Backend.NO_VNET_HDR:            # QEMU clears it whatever the user set
            assert p.value == gp.absent and not p.needs_feature
            assert (p.layer is Layer.USER_DEVICE) == (p.prop in dev_props)
        elif p.prop in dev_props:                     # -device beats everything else
            assert p.value == dev_props[p.prop] and p.layer is Layer.USER_DEVICE
        elif p.prop in globals_:                      # then -global
            assert p.value == globals_[p.prop] and p.layer is Layer.USER_GLOBAL
        else:
            machine_off = any(c.prop == p.prop and c.value == gp.absent
                              for c in machine_type.compat_props)
            if machine_off:                               # machine type off stays off
                assert p.value == gp.absent
            else:                                         # else exactly what the platform says
                assert p.value == (gp.present if p.feature in platform.features else gp.absent)
    # The host never changes the values; it only decides whether they can run: exactly the
    # relied-on features it does not confirm are missing, except a platform-layer feature behind
    # an optional device the host lacks (no VM there can use that device at all).
    supported = host - unknown
    report = FakeHost(supported=supported, unknown={f: "could not tell" for f in unknown}).run(mini_catalog)
    expected = set()
    for p in res.properties:
        if not p.needs_feature or p.feature in supported:
            continue
        device_absent = any(mini_catalog.get(r).category is Category.OPTIONAL
                            and r not in supported and r not in unknown   # unsupported, not merely unknown
                            for r in mini_catalog.get(p.feature).requires)
        if not (p.layer is Layer.PLATFORM and device_absent):
            expected.add(p.feature)
    assert {m.feature for m in check_host(res, report, mini_platforms)} == expected
    assert resolve(mc, mini_platforms, cfg, platform) == res
    # A host that has every platform feature can always run the platform's own choices.
    if not globals_ and not dev_props:
        full = FakeHost.with_features(platform.features | {"vhost-net"}).run(mini_catalog)
        require_host(res, full, mini_platforms)


def test_each_value_says_how_it_was_reached(mc: MachineCatalog, mini_platforms: PlatformSet) -> None:
    """The history explains a value layer by layer, as `resolve --explain` shows it."""
    cfg = VmConfig("pc-q35-8.1", (nic(backend=Backend.NO_VNET_HDR, props={"guest_uso4": "on"}),),
                   user_globals=(parse_global("virtio-net-device.host_uso=on"),), machine_props={"smm": "on"},
                   accel=Accel.KVM)
    res = resolve(mc, mini_platforms, cfg, mini_platforms.get("t-6.0"))
    history = {p.key: [(s.layer, s.value, s.why) for s in p.history] for p in res.properties}
    default = (Layer.DEVICE_DEFAULT, "on", "default of QEMU 10.0.2")
    cleared = (Layer.BACKEND, "off", "the netdev has no vnet header: QEMU clears this whatever is set")
    assert history["net0.host_uso"] == [
        default, (Layer.MACHINE_TYPE, "off", "machine type pc-q35-8.1: virtio-net-device.host_uso=off"),
        (Layer.USER_GLOBAL, "on", "set by -global virtio-net-device.host_uso=on"), cleared]
    assert history["net0.guest_uso4"] == [
        default, (Layer.MACHINE_TYPE, "off", "machine type pc-q35-8.1: virtio-net-device.guest_uso4=off"),
        (Layer.USER_DEVICE, "on", "set on -device virtio-net-pci"), cleared]
    assert history["machine.smm"] == [
        default, (Layer.PLATFORM, "off", "platform t-6.0 does not guarantee kvm-smm"),
        (Layer.USER_DEVICE, "on", "set by -machine smm=on")]
    plain = resolve(mc, mini_platforms, VmConfig("pc-q35-10.0", (nic(),), accel=Accel.KVM), mini_platforms.get("t-6.0"))
    assert {p.key: p.history[-1].why for p in plain.properties if p.prop in ("csum", "host_uso")} == {
        "net0.csum": "platform t-6.0 guarantees tap-vnet-hdr",
        "net0.host_uso": "platform t-6.0 does not guarantee tap-uso"}
