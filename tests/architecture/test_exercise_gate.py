"""The gate that fails a whole-suite run when a catalog feature, packaged platform or governed
property is never exercised (tests/harness/exercised.py): it sees what it must, and it can fail."""

from __future__ import annotations

from pathlib import Path

from tests.harness import exercised
from vmplatform.model._toml import DATA_DIR
from vmplatform.model.features import load_catalog
from vmplatform.model.machines import MachineCatalog
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.vm import Accel, VmConfig
from vmplatform.resolution import resolve as resolve_module

PLANTED = '''
[[feature]]
id = "planted-never-used"
summary = "a feature no test relies on"
category = "kernel"
requires = []
linux = "6.1"
linux-source = "planted by the gate's own test"
qemu = "8.2"
qemu-source = "planted by the gate's own test"
applies-to = "tap"

[feature.probe]
method = "tun-features"
flag = "IFF_MULTI_QUEUE"
flag-value = 0x0100
request = 0x800454cf

[[feature.governs]]
driver = "virtio-net-device"
property = "planted_prop"
present = "on"
absent = "off"
qemu = "8.2"
source = "planted by the gate's own test"
'''


def _everything(platforms: PlatformSet) -> exercised.Record:
    catalog = platforms.catalog
    return exercised.Record(features={f.id for f in catalog}, platforms=set(platforms.names()),
                            properties=exercised.governed(catalog))


def test_a_planted_feature_nobody_exercises_fails_the_gate(tmp_path: Path, platforms: PlatformSet) -> None:
    copy = tmp_path / "features.toml"
    copy.write_text((DATA_DIR / "features.toml").read_text(encoding="utf-8") + PLANTED, encoding="utf-8")
    planted = load_catalog(copy)
    found = exercised.gaps(planted, platforms, _everything(platforms))
    assert found.features == ("planted-never-used",)
    assert found.properties == ("planted-never-used: planted_prop",)
    assert found.platforms == ()
    text = exercised.message(found)
    assert "planted-never-used" in text and "add a test that resolves or checks a VM relying on each" in text


def test_a_platform_nobody_exercises_is_named(platforms: PlatformSet) -> None:
    record = _everything(platforms)
    record.platforms.discard("linux-6.2")
    found = exercised.gaps(platforms.catalog, platforms, record)
    assert (found.features, found.platforms, found.properties) == ((), ("linux-6.2",), ())
    assert not exercised.gaps(platforms.catalog, platforms, _everything(platforms))


def test_the_recorder_sees_a_resolution(mc: MachineCatalog, platforms: PlatformSet) -> None:
    """Through the module attribute, as every caller reaches it once the recorder is installed."""
    before = exercised.Record(set(exercised.RECORD.features), set(exercised.RECORD.platforms),
                              set(exercised.RECORD.properties))
    exercised.RECORD.features.clear()
    exercised.RECORD.platforms.clear()
    exercised.RECORD.properties.clear()
    try:
        config = VmConfig("pc-q35-10.0", (resolve_module.nic(),), accel=Accel.TCG)
        resolve_module.resolve(mc, platforms, config, platforms.get("linux-6.8"))
        assert "linux-6.8" in exercised.RECORD.platforms
        assert "tap-uso" in exercised.RECORD.features
        assert "tap-uso: host_uso" in exercised.RECORD.properties
    finally:
        exercised.RECORD.features |= before.features
        exercised.RECORD.platforms |= before.platforms
        exercised.RECORD.properties |= before.properties
