"""Which platforms a host supports, and the default-platform rule."""

from __future__ import annotations

from pathlib import Path

from vmplatform.model.features import Catalog
from vmplatform.model.platforms import PlatformSet, load_platforms
from vmplatform.model.report import FeatureStatus
from vmplatform.probe import FakeHost
from vmplatform.resolution.support import evaluate


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
    feats = ["tap-vnet-hdr", "tap-ufo", "tap-uso", "vhost-net"]
    sr = evaluate(FakeHost.with_features(feats).run(mini_catalog), mini_platforms)
    assert [u.feature for u in sr.get("t-6.2").unavailable] == ["vhost-net-ring-reset"]
    # A distro's platform is the default only on that distro's hosts ...
    assert sr.get("t-distro").supported and sr.default.name == "t-old"
    on_distro = FakeHost.with_features(feats, os_release={"ID": "distro"}).run(mini_catalog)
    assert evaluate(on_distro, mini_platforms).default.name == "t-distro"


def test_own_kernel_generation_preferred(tmp_path: Path, mini_catalog: Catalog) -> None:
    """Between platforms with the same features, the newest one not newer than the running kernel wins."""
    text = ""
    for name, date, kernel in (("u-6.2", "2023-02-19", "6.2"), ("u-6.9", "2024-05-12", "6.9"),
                               ("u-7.1", "2026-06-14", "7.1")):
        text += (f'[[platform]]\nname = "{name}"\ndescription = "x"\nreleased = {date}\nkernel = "{kernel}"\n'
                 'add = ["tap-vnet-hdr", "tap-uso"]\n\n')
    (tmp_path / "u.toml").write_text(text)
    ps = load_platforms([tmp_path], catalog=mini_catalog, env={}, system=None, packaged=False)
    host = FakeHost.with_features(["tap-vnet-hdr", "tap-uso"], kernel_release="6.18.44-fc-v669")
    assert evaluate(host.run(mini_catalog), ps).default.name == "u-6.9"
    newer = FakeHost.with_features(["tap-vnet-hdr", "tap-uso"], kernel_release="7.2.0")
    assert evaluate(newer.run(mini_catalog), ps).default.name == "u-7.1"
