"""The 'host' scope platform, the verdict's wording by scope, and compat drift that is not the
machine type's doing. Catalogs: the shipped QEMU 10.0.2 snapshot and variants of it
(tests/model/test_machine_catalogs.py says where its facts come from)."""

from __future__ import annotations

import copy
from datetime import date

from tests.harness.corpus import MANIFESTS, report
from tests.model.test_machine_catalogs import PLATFORMS, ROOT, USO, USO_OFF, catalog, machine, shipped_obj
from vmplatform.model.report import loads
from vmplatform.qemu.analysis import analyze
from vmplatform.records import replace
from vmplatform.resolution.layers import Layer
from vmplatform.resolution.manifest import Manifest, check_manifest, host_platform, machine_type_changes
from vmplatform.resolution.manifest import loads as manifest_loads


def test_the_host_scope_platform_is_everything_the_host_shows() -> None:
    el9 = report("el9-5.14")
    p = host_platform(el9, PLATFORMS)
    assert (p.name, p.vendor, p.kernel, p.synthetic) == ("host-el9-5.14", "host", el9.host.kernel_release, True)
    assert p.description == "everything host el9-5.14 offers (not migratable)"
    assert p.origin == "host report of el9-5.14"
    assert p.features == frozenset(el9.supported())
    assert p.released == date(2026, 1, 1)          # the day it was probed (probed-at 2026-01-01T00:00:00+00:00)
    assert host_platform(replace(el9, probed_at=""), PLATFORMS).released == date(1970, 1, 1)
    assert host_platform(replace(el9, probed_at="yesterday"), PLATFORMS).released == date(1970, 1, 1)


def test_the_verdict_says_when_the_vm_is_not_migratable() -> None:
    el9 = report("el9-5.14")
    host_scoped = manifest_loads((MANIFESTS / "el9-5.14-host.json").read_text())
    assert not host_scoped.migratable
    assert check_manifest(host_scoped, el9, PLATFORMS).message == \
        "host el9-5.14 can run this VM (scope host: not migratable)"
    default = manifest_loads((MANIFESTS / "el9-5.14-default.json").read_text())
    assert check_manifest(default, el9, PLATFORMS).message.startswith("host el9-5.14 can run this VM")
    assert "not migratable" not in check_manifest(default, el9, PLATFORMS).message


def _manifest(*device_props: str) -> Manifest:
    argv = ["-machine", "pc-q35-10.0,accel=tcg", "-netdev", "tap,id=n0,script=no,downscript=no",
            "-device", ",".join(["virtio-net-pci,netdev=n0,id=net0", *device_props])]
    return analyze(argv, mc=catalog(shipped_obj()), platforms=PLATFORMS, report=loads(ROOT.read_text()),
                   platform=PLATFORMS.get("linux-6.2"))[1]


def test_a_users_own_value_earlier_in_the_device_does_not_hide_drift_after_it() -> None:
    """host_tso4=off set by the user comes before the USO pins: the USO drift is still reported."""
    m = _manifest("host_tso4=off")
    assert [(p.prop, p.source) for p in m.pins if p.prop == "host_tso4"] == [("host_tso4", Layer.USER_DEVICE)]
    after = shipped_obj()
    machine(after, "pc-q35-10.0")["compat-props"] += copy.deepcopy(USO_OFF)
    problems = machine_type_changes(m, catalog(after))
    assert [p for p in USO if any(f"virtio-net-device.{p} off" in x for x in problems)] == USO


def test_a_changed_device_default_is_not_machine_type_drift() -> None:
    """A QEMU whose virtio-net-device defaults host_uso to off, and whose pc-q35-10.0 gained a compat
    prop for another property of the device: the machine type does not touch host_uso, and the
    destination is started with the manifest's pins, which set it: no drift."""
    m = _manifest()
    assert [(p.prop, p.value, p.source) for p in m.pins if p.prop == "host_uso"] == [("host_uso", "on", Layer.PLATFORM)]
    after = shipped_obj()
    after["device-defaults"]["virtio-net-device"]["host_uso"] = "off"
    machine(after, "pc-q35-10.0")["compat-props"].append(
        {"qom-type": "virtio-net-device", "property": "mq", "value": "off"})
    assert machine_type_changes(m, catalog(after)) == []
