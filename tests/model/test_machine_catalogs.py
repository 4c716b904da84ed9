"""Machine catalogs from the installed QEMU, and compat drift between two catalogs.

Facts (QEMU 10.0.2 source):
- hw/core/machine.c ``hw_compat_8_1[]`` holds ``virtio-net-device`` ``host_uso``,
  ``guest_uso4``, ``guest_uso6`` = ``off`` (moved there by commit 9710401276a0,
  "hw/core/machine: move compatibility flags for VirtIO-net USO to machine 8.1");
  pc-q35-8.1 takes hw_compat_8_1, pc-q35-8.2 does not;
- x86 machine types count 36 compat props for pc-q35-8.1 and 29 for pc-q35-8.2
  (counted in this QEMU's own answer over QMP);
- the default x86 machine is ``pc-i440fx-10.0`` (alias ``pc``), ``q35`` is
  ``pc-q35-10.0`` (hw/i386/pc_piix.c / pc_q35.c: the newest version is the alias).

The drift case is what RHEL-80313 did to ``pc-q35-rhel9.6.0``: a QEMU update
grafted hw_compat_rhel_9 (virtio-net-device host_uso/guest_uso4/guest_uso6=off)
onto an existing machine type. "After" is the shipped 10.0.2 catalog with
those real props (taken from its own pc-q35-8.1) added to pc-q35-10.0.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.harness import paths
from vmplatform.model.machines import MachineCatalog, from_json_obj, packaged_catalogs
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import loads
from vmplatform.qemu.analysis import analyze
from vmplatform.resolution.manifest import Manifest, check_manifest, machine_type_changes
from vmplatform.resolution.verdict import Result

PLATFORMS = load_platforms(env={}, system=None)
SHIPPED = next(p for p in packaged_catalogs() if p.name == "qemu-10.0.2-x86_64.json")
ROOT = Path(__file__).parent.parent / "data" / "probed" / "debian12-6.18-pvm-root.json"
USO = ["host_uso", "guest_uso4", "guest_uso6"]
USO_OFF = [{"qom-type": "virtio-net-device", "property": p, "value": "off"} for p in USO]
VM = ["-machine", "MACHINE,accel=tcg", "-netdev", "tap,id=n0,script=no,downscript=no",
      "-device", "virtio-net-pci,netdev=n0,id=net0"]


def shipped_obj() -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(SHIPPED.read_text())
    return obj


def machine(obj: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in obj["machines"] if m["name"] == name)


def catalog(obj: dict[str, Any]) -> MachineCatalog:
    return from_json_obj(obj, "<test catalog>")


def manifest_for(machine_name: str, platform: str) -> Manifest:
    argv = [a.replace("MACHINE", machine_name) for a in VM]
    return analyze(argv, mc=catalog(shipped_obj()), platforms=PLATFORMS, report=loads(ROOT.read_text()),
                   platform=PLATFORMS.get(platform))[1]


# -- the shipped snapshot ---------------------------------------------------------

def test_shipped_snapshot_holds_the_upstream_uso_compat() -> None:
    obj = shipped_obj()
    uso81 = [cp for cp in machine(obj, "pc-q35-8.1")["compat-props"] if cp["property"] in USO]
    assert uso81 == USO_OFF
    assert not [cp for cp in machine(obj, "pc-q35-8.2")["compat-props"] if cp["property"] in USO]
    assert (len(machine(obj, "pc-q35-8.1")["compat-props"]), len(machine(obj, "pc-q35-8.2")["compat-props"])) \
        == (36, 29)


@pytest.mark.qemu
def test_import_from_the_installed_qemu_regenerates_the_shipped_snapshot(tmp_path: Path) -> None:
    binary = paths.qemu_binary()
    if binary is None:
        pytest.skip("no qemu-system-x86_64 installed")
    out = tmp_path / "catalog.json"
    rc, stdout, stderr = run_cli(["machines", "import", "--qemu", binary, "--output", str(out)])
    assert (rc, stdout) == (0, "")
    new = json.loads(out.read_text())
    if new["qemu-version"] != "10.0.2":
        pytest.skip(f"installed QEMU is {new['qemu-version']}, the shipped snapshot is of 10.0.2")
    assert stderr == f"wrote {len(new['machines'])} machine types of QEMU 10.0.2 to {out}\n"
    old = shipped_obj()
    for obj in (old, new):
        del obj["generated-at"]   # the only field that may differ between two imports
    assert new == old


def test_machines_list_text_and_json(tmp_path: Path) -> None:
    rc, out, err = run_cli(["machines", "list", "--machine-catalog", str(SHIPPED)])
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"Machine types of QEMU 10.0.2 (x86_64), from {SHIPPED}"
    assert "  pc-q35-8.1               36 compat props" in lines
    assert "  pc-q35-8.2               29 compat props" in lines
    assert "  pc-i440fx-10.0            0 compat props [alias pc] (default)" in lines
    assert sum("(default)" in line for line in lines) == 1
    rc, out, err = run_cli(["machines", "list", "--json", "--machine-catalog", str(SHIPPED)])
    listed = {m["name"]: m for m in json.loads(out)}
    assert listed["pc-q35-10.0"] == {"name": "pc-q35-10.0", "alias": "q35", "is-default": False,
                                     "compat-props": 1}
    assert len(listed) == len(shipped_obj()["machines"])


def test_machines_list_of_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something-else"}')
    rc, out, err = run_cli(["machines", "list", "--machine-catalog", str(bad)])
    assert (rc, out) == (1, "")
    assert err.startswith("vmplatform: error: ") and "not a machine catalog" in err and "Traceback" not in err


# -- compat drift -----------------------------------------------------------------

def test_no_drift_against_the_catalog_the_vm_was_made_with() -> None:
    m = manifest_for("pc-q35-10.0", "linux-6.2")
    assert machine_type_changes(m, catalog(shipped_obj())) == []
    m81 = manifest_for("pc-q35-8.1", "linux-6.2")
    assert machine_type_changes(m81, catalog(shipped_obj())) == []


def test_a_machine_type_that_now_turns_uso_off_is_drift() -> None:
    """Made with USO on (platform linux-6.2, pc-q35-10.0), checked against a QEMU whose
    pc-q35-10.0 gained the USO-off compat props."""
    m = manifest_for("pc-q35-10.0", "linux-6.2")
    assert [(p.prop, p.value, p.source.value) for p in m.pins if p.prop in USO] == \
        [(p, "on", "platform") for p in USO]
    after = shipped_obj()
    after["qemu-version"] = "10.0.2-drift"
    machine(after, "pc-q35-10.0")["compat-props"] += copy.deepcopy(USO_OFF)
    problems = machine_type_changes(m, catalog(after))
    assert problems == [f"machine type pc-q35-10.0 of QEMU 10.0.2-drift now turns virtio-net-device.{p} off, "
                        "the VM was created with on: start the destination with the manifest's pinned properties"
                        for p in USO]
    report = loads(ROOT.read_text())
    assert check_manifest(m, report, PLATFORMS, catalog(shipped_obj())).result is Result.IDENTICAL
    drifted = check_manifest(m, report, PLATFORMS, catalog(after))
    assert (drifted.result, drifted.problems) == (Result.INCOMPATIBLE, tuple(problems))


def test_a_machine_type_that_no_longer_turns_uso_off_is_drift() -> None:
    """Made on pc-q35-8.1 (USO off by the machine type), checked against a QEMU whose
    pc-q35-8.1 lost those compat props: it would now offer USO."""
    m = manifest_for("pc-q35-8.1", "linux-6.2")
    assert [(p.prop, p.value, p.source.value) for p in m.pins if p.prop in USO] == \
        [(p, "off", "machine-type") for p in USO]
    after = shipped_obj()
    after["qemu-version"] = "10.0.2-drift"
    m81 = machine(after, "pc-q35-8.1")
    m81["compat-props"] = [cp for cp in m81["compat-props"] if cp["property"] not in USO]
    assert machine_type_changes(m, catalog(after)) == [
        f"machine type pc-q35-8.1 of QEMU 10.0.2-drift now gives virtio-net-device.{p}=on, the VM was created "
        "with off: start the destination with the manifest's pinned properties" for p in USO]


def test_a_machine_type_the_target_lacks() -> None:
    m = manifest_for("pc-q35-8.1", "linux-6.2")
    after = shipped_obj()
    after["machines"] = [x for x in after["machines"] if x["name"] != "pc-q35-8.1"]
    assert machine_type_changes(m, catalog(after)) == ["QEMU 10.0.2 has no machine type pc-q35-8.1"]
