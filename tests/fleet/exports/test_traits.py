"""Placement custom traits checked with os-traits, and the Nova provider config loaded by Nova's own loader."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from vmplatform.fleet.export_traits import (
    COMPUTE_NODE,
    NAMESPACE,
    Kind,
    TraitError,
    host_traits,
    nova_provider_config,
    nova_provider_yaml,
    trait_map,
)
from vmplatform.fleet.export_view import fleet_view
from vmplatform.model.platforms import PlatformSet, load_platforms
from vmplatform.model.report import FeatureStatus

from .conftest import HERE, generated_fleet, placement_missing, placement_python

os_traits = pytest.importorskip("os_traits", reason="os-traits (PyPI) is a test dependency: pip install os-traits")


def test_every_trait_is_what_os_traits_makes_and_accepts(platforms: PlatformSet) -> None:
    tmap = trait_map(platforms)
    assert len(tmap.traits) == len(list(platforms)) + len(list(platforms.catalog))
    for (kind, name), trait in tmap.traits.items():
        assert os_traits.is_custom(trait)
        assert re.fullmatch(r"CUSTOM_[A-Z0-9_]+", trait)  # Placement's schema for a custom trait name
        assert trait == os_traits.normalize_name(f"VMPLATFORM_{kind.value}_{name}")
        assert len(trait) <= 255
        assert tmap.meaning[trait] == (kind, name)


def test_colliding_names_get_distinct_traits_and_a_reverse_map(platforms: PlatformSet, tmp_path: Path) -> None:
    """os-traits' normalisation sends linux-6.2 and linux_6.2 to the same name: both must survive."""
    base = next(p for p in platforms if p.name == "linux-6.2")
    (tmp_path / "twins.toml").write_text(
        '[[platform]]\nname = "linux_6.2"\ndescription = "a twin"\nvendor = "example"\n'
        f'released = 2023-02-19\ninherits = "{base.name}"\n'
        '[[platform]]\nname = "' + "x" * 260 + '"\ndescription = "long"\nvendor = "example"\n'
        f'released = 2023-02-19\ninherits = "{base.name}"\n', encoding="utf-8")
    plats = load_platforms([tmp_path], env={}, system=None)
    tmap = trait_map(plats)
    a, b = tmap.platform("linux-6.2"), tmap.platform("linux_6.2")
    assert a != b
    assert os_traits.normalize_name("VMPLATFORM_PLATFORM_linux-6.2") == os_traits.normalize_name(
        "VMPLATFORM_PLATFORM_linux_6.2")
    assert tmap.meaning[a] == (Kind.PLATFORM, "linux-6.2") and tmap.meaning[b] == (Kind.PLATFORM, "linux_6.2")
    long = tmap.platform("x" * 260)
    assert len(long) <= 255 and os_traits.is_custom(long)
    # names that do not collide keep the plain os-traits name
    assert tmap.platform("linux-6.1") == os_traits.normalize_name("VMPLATFORM_PLATFORM_linux-6.1")


def test_host_traits_are_its_platforms_and_supported_features(platforms: PlatformSet) -> None:
    fleet = generated_fleet(platforms, 10, seed=4)
    view = fleet_view(fleet, platforms)
    tmap = trait_map(platforms)
    traits = host_traits(view, tmap)
    for name, report in fleet:
        fc = view.class_of(name)
        want = {tmap.platform(p) for p in fc.supported_platforms} | {
            tmap.feature(r.feature) for r in report.results if r.status is FeatureStatus.SUPPORTED}
        assert traits[name] == want


def test_nova_provider_config_document(platforms: PlatformSet) -> None:
    fleet = generated_fleet(platforms, 3, seed=2)
    tmap = trait_map(platforms)
    traits = host_traits(fleet_view(fleet, platforms), tmap)
    doc = yaml.safe_load(nova_provider_yaml(nova_provider_config(traits, tmap)))
    assert doc["meta"]["schema_version"] == "1.0"
    assert {p["identification"]["name"]: set(p["traits"]["additional"]) for p in doc["providers"]} == \
        {h: set(t) for h, t in traits.items()}
    assert all(doc["meta"]["vmplatform_traits"][t].split(" ", 1)[1] == tmap.meaning[t][1]
               for p in doc["providers"] for t in p["traits"]["additional"])
    one = nova_provider_config({fleet[0][0]: traits[fleet[0][0]]}, tmap, compute_node=True)
    assert one["providers"][0]["identification"] == {"uuid": COMPUTE_NODE}
    with pytest.raises(TraitError, match="one host"):
        nova_provider_config(traits, tmap, compute_node=True)


@pytest.mark.placement
@pytest.mark.parametrize("compute_node", [False, True])
def test_nova_compute_loads_the_provider_config(platforms: PlatformSet, tmp_path: Path, compute_node: bool) -> None:
    """nova.compute.provider_config.get_provider_configs, nova-compute's own loader, accepts the file."""
    reason = placement_missing()
    if reason:
        pytest.skip(reason)
    fleet = generated_fleet(platforms, 4, seed=8)
    tmap = trait_map(platforms)
    traits = host_traits(fleet_view(fleet, platforms), tmap)
    if compute_node:
        traits = {fleet[1][0]: traits[fleet[1][0]]}
    (tmp_path / "vmplatform.yaml").write_text(nova_provider_yaml(nova_provider_config(traits, tmap, compute_node)))
    out = subprocess.run([placement_python(), str(HERE / "nova_load.py"), str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout)
    if compute_node:
        assert loaded == {COMPUTE_NODE: {"identification": {"uuid": COMPUTE_NODE},
                                         "traits": sorted(next(iter(traits.values())))}}
    else:
        assert {k: v["traits"] for k, v in loaded.items()} == {h: sorted(t) for h, t in traits.items()}
        assert all(t.startswith(NAMESPACE) for v in loaded.values() for t in v["traits"])


@pytest.mark.placement
def test_nova_rejects_what_we_must_never_write(tmp_path: Path) -> None:
    """The loader in the test is the real one: a standard (non-custom) trait is refused."""
    reason = placement_missing()
    if reason:
        pytest.skip(reason)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"meta": {"schema_version": "1.0"}, "providers": [
        {"identification": {"name": "h"}, "traits": {"additional": ["HW_CPU_X86_AVX"]}}]}))
    out = subprocess.run([placement_python(), str(HERE / "nova_load.py"), str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1 and "only custom traits" in out.stderr
