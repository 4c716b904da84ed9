"""Upstream releases as platforms, the default rule, and accelerator-aware support (packaged data)."""

from __future__ import annotations

import pytest

from vmplatform.errors import UnknownNameError
from vmplatform.model.accel import Accel
from vmplatform.model.features import Category, default_catalog
from vmplatform.model.platforms import PlatformSet, load_platforms
from vmplatform.model.releases import kernel_version, upstream_features
from vmplatform.probe import FakeHost
from vmplatform.resolution.support import Lack, evaluate

CATALOG = default_catalog()
PLATFORMS = load_platforms(env={}, system=None)
KERNEL_FEATURES = {f.id for f in CATALOG if f.category is Category.KERNEL and CATALOG.decides_properties(f.id)}


def host(kernel: str, features: set[str], **kw: object) -> FakeHost:
    return FakeHost.with_features(features, kernel_release=kernel, **kw)


def release_host(release: str, *, vsock: bool, kvm: bool = True, **kw: object) -> FakeHost:
    """A host running upstream ``release``: what the catalog says it has, plus the optional devices."""
    have = set(upstream_features(CATALOG, kernel_version(release))) | {"vhost-net", "thp-pmd-2m"}
    if vsock:
        have.add("vhost-vsock")
    else:
        have.discard("vhost-vsock-seqpacket")  # not probed: the device is absent
    if not kvm:
        have -= {f.id for f in CATALOG if f.applies_to.value == "kvm"}
    return host(f"{release}.0-1-amd64", have, **kw)


def test_every_release_from_2_6_27_to_the_newest_is_a_platform() -> None:
    names = {p.name for p in PLATFORMS.upstream()}
    assert {"linux-2.6.27", "linux-2.6.39", "linux-3.0", "linux-4.20", "linux-6.16", "linux-6.18", "linux-7.0",
            "linux-7.1"} <= names
    versions = [kernel_version(p.kernel) for p in PLATFORMS.upstream()]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


@pytest.mark.parametrize("name", ["linux-7.2", "linux-7.3", "linux-8.0", "linux-7.10"])
def test_a_release_beyond_the_newest_known_is_refused_naming_it(name: str) -> None:
    with pytest.raises(UnknownNameError) as exc:
        PLATFORMS.get(name)
    assert "newest release this vmplatform knows (linux-7.1)" in str(exc.value)


def test_derived_guarantees_follow_the_catalog() -> None:
    g = {p.name: p.features for p in PLATFORMS.upstream()}
    assert "tap-uso" not in g["linux-6.1"] and "tap-uso" in g["linux-6.2"]
    assert g["linux-6.16"] == g["linux-6.3"] and g["linux-7.1"] == g["linux-6.17"] == g["linux-6.18"]
    assert "tap-ufo" in g["linux-3.17"] and "tap-ufo" not in g["linux-3.18"] and "tap-ufo" not in g["linux-4.14"]
    assert "tap-ufo" in g["linux-4.15"]
    # Kconfig defaults: CONFIG_KVM_SMM=y from its release; THP is not a Kconfig default
    assert "kvm-smm" not in g["linux-4.1"] and "kvm-smm" in g["linux-4.2"] and "kvm-smm" in g["linux-6.18"]
    assert all("thp-pmd-2m" not in f for f in g.values())
    # features that decide no QEMU property are nobody's guarantee
    for fid in ("kvm-hyperv-cpuid", "kvm-tsc-control", "tun-multiqueue"):
        assert not CATALOG.decides_properties(fid)
        assert all(fid not in p.features for p in PLATFORMS)


def test_list_groups_identical_releases() -> None:
    assert PLATFORMS.same_as(PLATFORMS.get("linux-7.1")).name == "linux-6.17"
    assert PLATFORMS.same_as(PLATFORMS.get("linux-6.17")).name == "linux-6.17"
    assert PLATFORMS.same_as(PLATFORMS.get("linux-debian-12")).name == "linux-debian-12"


@pytest.mark.parametrize("release", ["5.10", "6.1", "6.12", "6.16", "6.17", "6.18"])
def test_default_is_stable_when_an_optional_module_loads_and_never_newer(release: str) -> None:
    before = evaluate(release_host(release, vsock=False).run(CATALOG), PLATFORMS)
    after = evaluate(release_host(release, vsock=True).run(CATALOG), PLATFORMS)
    assert before.default == after.default
    assert kernel_version(before.default.kernel) <= kernel_version(release)
    assert before.default.features == PLATFORMS.get(f"linux-{release}").features


def test_5_10_with_vhost_vsock_loaded_lacks_seqpacket_but_the_default_holds() -> None:
    have = set(upstream_features(CATALOG, (5, 10))) | {"vhost-vsock", "vhost-net"}
    sr = evaluate(host("5.10.0-46-amd64", have, os_release={"ID": "debian", "VERSION_ID": "11"}).run(CATALOG),
                  PLATFORMS)
    assert not sr.get("linux-5.14").supported
    assert sr.default.name == "linux-debian-11"
    without = evaluate(host("5.10.0-46-amd64", have - {"vhost-vsock"},
                            os_release={"ID": "debian", "VERSION_ID": "11"}).run(CATALOG), PLATFORMS)
    ps = without.get("linux-5.14")
    assert ps.supported and not ps.guaranteed and ps.without_devices == ("vhost-vsock",)
    assert [u.lack for u in ps.unavailable] == [Lack.NEEDS_DEVICE]
    assert without.default.name == "linux-debian-11"
    # as query-platforms says it: which device the VM must go without
    shown = ps.to_json()
    assert shown["unavailable-features"] == [
        {"id": "vhost-vsock-seqpacket", "status": "unsupported",
         "reason": "vhost-vsock: fake host: vhost-features: absent", "lack": "needs-device", "device": "vhost-vsock"}]
    assert shown["usable-without"] == ["vhost-vsock"]


def test_a_tcg_vm_never_lacks_kvm_features() -> None:
    report = release_host("6.1", vsock=True, kvm=False, os_release={"ID": "debian", "VERSION_ID": "12"}).run(CATALOG)
    tcg = evaluate(report, PLATFORMS, Accel.TCG)
    assert all("kvm-smm" not in (u.feature for u in ps.unavailable) for ps in tcg)
    assert tcg.get("linux-debian-12").guaranteed and tcg.default.name == "linux-debian-12"
    kvm = evaluate(report, PLATFORMS, Accel.KVM)
    ps = kvm.get("linux-debian-12")
    assert not ps.guaranteed and ps.without_devices == ("kvm-smm",)


def test_running_kernel_caps_the_default_on_a_newer_host() -> None:
    sr = evaluate(release_host("6.18", vsock=True).run(CATALOG), PLATFORMS)
    assert sr.default.name == "linux-6.18"
    assert sr.get("linux-7.1").newer_than_host and sr.get("linux-7.1").supported
    assert not sr.get("linux-6.18").newer_than_host


def test_the_default_is_refused_for_a_kernel_older_than_every_platform() -> None:
    sr = evaluate(host("2.6.18-1", {"tap-vnet-hdr", "host-page-size-4k", "tap-ufo"}).run(CATALOG), PLATFORMS)
    assert not sr.has_default


def test_packaged_set_is_a_platform_set() -> None:
    assert isinstance(PLATFORMS, PlatformSet)
