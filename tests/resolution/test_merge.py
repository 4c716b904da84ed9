"""`vmplatform merge`: the synthetic platform file, and that resolve / qemu accept it."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.harness.corpus import HOSTS, report
from vmplatform.model.features import Catalog, Category, HostFeature, default_catalog
from vmplatform.model.platforms import PlatformSet, load_platform_file
from vmplatform.records import replace
from vmplatform.resolution.merge import _closed, common_features, merged_platform
from vmplatform.resolution.support import evaluate

EL9, UBUNTU = str(HOSTS / "el9-5.14.json"), str(HOSTS / "ubuntu2404-6.8.json")
Q35_NET = ["-machine", "pc-q35-10.0", "-netdev", "tap,id=n0,script=no,downscript=no",
           "-device", "virtio-net-pci,netdev=n0,id=net0"]


@pytest.fixture()
def merged_file(tmp_path: Path) -> Path:
    out = tmp_path / "el9+ubuntu.toml"
    rc, stdout, stderr = run_cli(["merge", EL9, UBUNTU, "--name", "merge-el9-ubuntu", "-o", str(out)])
    assert (rc, stdout) == (0, "")
    assert stderr == f"wrote platform merge-el9-ubuntu (13 features common to 2 hosts) to {out}\n"
    return out


def test_merged_file_loads_as_the_merged_platform(merged_file: Path, platforms: PlatformSet) -> None:
    loaded = load_platform_file(merged_file, platforms)
    expected = merged_platform([report("el9-5.14"), report("ubuntu2404-6.8")], platforms, "merge-el9-ubuntu")
    assert loaded.name == "merge-el9-ubuntu"
    assert loaded.features == expected.features
    assert "tap-uso" not in loaded.features  # el9 lacks it
    assert "tap-ufo" in loaded.features


def test_resolve_accepts_the_merged_file(merged_file: Path) -> None:
    rc, out, err = run_cli(["resolve", "-M", "pc-q35-10.0", "--platform", str(merged_file), "--host", UBUNTU,
                            "--format", "qemu-args"])
    assert (rc, err) == (0, "")
    assert "-global virtio-net-device.host_uso=off" in out
    assert "-global virtio-net-device.host_ufo=on" in out


def test_qemu_frontend_accepts_the_merged_file(merged_file: Path) -> None:
    for host in (EL9, UBUNTU):
        rc, out, err = run_cli(["qemu", "--dry-run", "--host", host, "-platform", str(merged_file), *Q35_NET])
        assert (rc, err) == (0, "")
        device = out.splitlines()[out.splitlines().index("-device") + 1]
        assert "host_uso=off,guest_uso4=off,guest_uso6=off" in device
        assert "host_ufo=on" in device


def test_merge_reads_concatenated_reports_on_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    text = Path(EL9).read_text() + Path(UBUNTU).read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    rc, out, err = run_cli(["merge", "-"])
    rc2, out2, _ = run_cli(["merge", UBUNTU, EL9])
    assert (rc, err, rc2) == (0, "", 0)
    assert out == out2  # same hosts, any order, any input form: the same file


def test_default_name_depends_on_hosts_and_features_only(platforms: PlatformSet) -> None:
    a = merged_platform([report("el9-5.14"), report("debian12-6.1")], platforms)
    b = merged_platform([report("debian12-6.1"), report("el9-5.14")], platforms)
    assert a == b
    assert a.name.startswith("merge-")


def test_merged_platform_is_supported_by_every_input_host(platforms: PlatformSet) -> None:
    reports = [report(n) for n in ("el8-4.18", "el9-5.14", "ubuntu2404-6.8", "vm-debian12-6.18-pvm")]
    plat = merged_platform(reports, platforms)
    for r in reports:
        assert evaluate(r, platforms.with_platform(plat)).get(plat.name).supported, r.name


def test_common_features_drop_a_feature_whose_requirement_is_not_common(platforms: PlatformSet) -> None:
    from vmplatform.probe.fake import FakeHost

    # An unprivileged probe may see USO but not confirm the vnet header: never promise USO alone.
    odd = FakeHost(hostname="odd", supported=frozenset({"tap-uso", "tap-ufo"})).run(platforms.catalog)
    assert common_features([odd], platforms) == frozenset()


def test_dropping_a_feature_drops_what_requires_it_in_turn() -> None:
    """Closure over chains: a needs b, b needs c; c not common drops b, then a (whatever the name order)."""
    base = next(f for f in default_catalog() if f.category is Category.KERNEL)

    def feature(fid: str, *requires: str) -> HostFeature:
        return replace(base, id=fid, requires=requires)

    catalog = Catalog({f.id: f for f in (feature("a", "b"), feature("b", "c"), feature("c"), feature("d", "c"))})
    assert _closed(frozenset({"a", "b", "d"}), catalog) == frozenset()
    assert _closed(frozenset({"a", "b", "c"}), catalog) == frozenset({"a", "b", "c"})
