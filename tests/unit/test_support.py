"""Which platforms a host supports, and the default-platform rule."""

from __future__ import annotations

from vmplatform.features import Catalog
from vmplatform.platforms import PlatformSet
from vmplatform.probe import FakeHost
from vmplatform.report import FeatureStatus
from vmplatform.support import evaluate


def test_host_with_uso_defaults_to_newest_maximal(mini_catalog: Catalog, mini_platforms: PlatformSet) -> None:
    host = FakeHost.with_features(["tap-vnet-hdr", "tap-ufo", "tap-uso", "vhost-net", "vhost-net-ring-reset"])
    sr = evaluate(host.run(mini_catalog), mini_platforms)
    assert [ps.name for ps in sr if ps.supported] == ["t-distro", "t-6.2", "t-6.0", "t-old"]
    # t-distro is newer but a strict subset of t-6.2: t-6.2 is the latest the host supports.
    assert sr.default.name == "t-6.2"
    assert sum(ps.is_default for ps in sr) == 1


def test_old_kernel_host_lacks_uso(mini_catalog: Catalog, mini_platforms: PlatformSet) -> None:
    host = FakeHost.with_features(["tap-vnet-hdr", "tap-ufo", "vhost-net", "vhost-net-ring-reset"])
    sr = evaluate(host.run(mini_catalog), mini_platforms)
    assert sr.default.name == "t-6.0"
    t62 = sr.get("t-6.2")
    assert not t62.supported
    assert [(u.feature, u.status) for u in t62.unavailable] == [("tap-uso", FeatureStatus.UNSUPPORTED)]


def test_optional_prerequisite_absent_does_not_block(mini_catalog: Catalog, mini_platforms: PlatformSet) -> None:
    # No /dev/vhost-net: ring reset cannot matter to any VM here, so t-6.2 stays supported.
    host = FakeHost.with_features(["tap-vnet-hdr", "tap-ufo", "tap-uso"])
    sr = evaluate(host.run(mini_catalog), mini_platforms)
    assert sr.default.name == "t-6.2"


def test_vhost_present_without_ring_reset_blocks(mini_catalog: Catalog, mini_platforms: PlatformSet) -> None:
    host = FakeHost.with_features(["tap-vnet-hdr", "tap-ufo", "tap-uso", "vhost-net"])
    sr = evaluate(host.run(mini_catalog), mini_platforms)
    assert sr.default.name == "t-distro"
    assert [u.feature for u in sr.get("t-6.2").unavailable] == ["vhost-net-ring-reset"]


def test_unknown_counts_as_unavailable(mini_catalog: Catalog, mini_platforms: PlatformSet) -> None:
    host = FakeHost(supported=frozenset({"tap-ufo"}), unknown={"tap-vnet-hdr": "EPERM: needs CAP_NET_ADMIN"})
    sr = evaluate(host.run(mini_catalog), mini_platforms)
    assert not sr.has_default
    old = sr.get("t-old")
    assert [(u.feature, u.status) for u in old.unavailable] == [("tap-vnet-hdr", FeatureStatus.UNKNOWN)]
    assert "EPERM" in old.unavailable[0].reason
