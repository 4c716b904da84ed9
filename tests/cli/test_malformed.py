"""Bad input gets an exact, actionable error and an exit status; never a traceback."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.harness.corpus import DOMAINS, HOSTS, MANIFESTS

EL9 = str(HOSTS / "el9-5.14.json")
UBUNTU = str(HOSTS / "ubuntu2404-6.8.json")
MANIFEST_HINT = ("  hint: produce one with 'vmplatform analyze -- QEMU-ARGV > manifest.json' "
                 "(schema: docs/manifest.md)\n")


def check_manifest_text(tmp_path: Path, text: str) -> tuple[int, str, str]:
    path = tmp_path / "m.json"
    path.write_text(text)
    rc, out, err = run_cli(["check", "--manifest", str(path), "--host", EL9])
    return rc, out, err.replace(str(path), "M")


GOOD = json.loads((MANIFESTS / "ubuntu2404-6.8-default.json").read_text())


def broken(**changes: object) -> str:
    obj = dict(GOOD)
    for key, value in changes.items():
        key = key.replace("_", "-")
        if value is None:
            obj.pop(key)
        else:
            obj[key] = value
    return json.dumps(obj)


def pin(**changes: object) -> str:
    """GOOD with its first pinned property changed (None: that key removed)."""
    obj = json.loads(json.dumps(GOOD))
    first = obj["pinned-properties"][0]
    for key, value in changes.items():
        if value is None:
            first.pop(key)
        else:
            first[key] = value
    return json.dumps(obj)


@pytest.mark.parametrize(("text", "message"), [
    ("", "M: invalid JSON at line 1, column 1: Expecting value"),
    ('{"schema": ', "M: invalid JSON at line 1, column 12: Expecting value"),
    ("[1, 2]", "M: not a vmplatform manifest (expected a JSON object)"),
    ('{"machine": "pc-q35-10.0"}', "M: not a vmplatform manifest (no 'schema', expected 'vmplatform/manifest/1')"),
    ('{"schema": "vmplatform/host-report/1"}',
     "M: not a vmplatform manifest (schema 'vmplatform/host-report/1', expected 'vmplatform/manifest/1')"),
    (broken(scope=None), "M: scope: missing"),
    (broken(scope={"kind": "galaxy"}), "M: scope.kind: 'galaxy' is not one of host, hosts, platform, anywhere"),
    (broken(machine=None), "M: machine: missing"),
    (broken(machine=10), "M: machine: must be a string, not an integer"),
    (broken(requires={"tap-uso": "x"}), "M: requires: must be a list, not an object"),
    (broken(requires=[{"feature": "tap-uso"}]), "M: requires[0].required-by: missing"),
    (broken(pinned_properties=[7]), "M: pinned-properties[0]: must be an object, not an integer"),
    (broken(migratable="yes"), "M: migratable: must be true or false, not a string"),
    (broken(platform=3), "M: platform: must be a string or null, not an integer"),
    (broken(platform_features="tap-uso"), "M: platform-features: must be a list of strings, not a string"),
    (broken(platform_features=["tap-uso", 1]), "M: platform-features[1]: must be a string, not an integer"),
    (broken(scope="platform"), "M: scope: must be an object, not a string"),
    (broken(scope={"kind": 1}), "M: scope.kind: must be a string, not an integer"),
    (broken(scope={"kind": "hosts", "hosts": "a b"}), "M: scope.hosts: must be a list of strings, not a string"),
    (broken(pinned_properties=None), "M: pinned-properties: missing"),
    (broken(requires=None), "M: requires: missing"),
    (broken(requires=["tap-uso"]), "M: requires[0]: must be an object, not a string"),
    (broken(requires=[None]), "M: requires[0]: must be an object, not null"),
    (broken(requires=[{"feature": 1, "required-by": "x"}]), "M: requires[0].feature: must be a string, not an integer"),
    (broken(analysed_on=5), "M: analysed-on: must be a string, not an integer"),
    (broken(migratable=None), "M: migratable: missing"),
    (broken(accel=None), "M: accel: missing"),
    (broken(qemu_version=None), "M: qemu-version: missing"),
    (broken(relevant_features=[1]), "M: relevant-features[0]: must be a string, not an integer"),
    (pin(feature="tap-teleport"), "M: pinned-properties[0].feature: 'tap-teleport' is not a feature of the catalog "
                                  "('vmplatform features' lists them)"),
    (pin(property="host_tso4", feature="tap-uso"),
     "M: pinned-properties[0].property: virtio-net-device.host_tso4 is not a property tap-uso governs"),
    (pin(value="on,x=1"), "M: pinned-properties[0].value: 'on,x=1' is not a property value (letters, digits, '_.+-')"),
    (pin(value="o" * 65), f"M: pinned-properties[0].value: '{'o' * 65}' is not a property value (letters, digits, "
                          "'_.+-')"),
    (pin(device="net 0"), "M: pinned-properties[0].device: 'net 0' is not a device name (letters, digits, '_.-')"),
    (pin(**{"device-type": "virtio-net-pci\""}),
     "M: pinned-properties[0].device-type: 'virtio-net-pci\"' is not a device name (letters, digits, '_.-')"),
    (pin(source=None), "M: pinned-properties[0].source: missing"),
])
def test_bad_manifest(tmp_path: Path, text: str, message: str) -> None:
    assert check_manifest_text(tmp_path, text) == (1, "", f"vmplatform: error: {message}\n{MANIFEST_HINT}")


def test_missing_manifest_file() -> None:
    rc, out, err = run_cli(["check", "--manifest", "/nonexistent/m.json", "--host", EL9])
    assert (rc, out, err) == (1, "", "vmplatform: error: /nonexistent/m.json: cannot read: No such file or directory\n")


def test_truncated_report_on_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = Path(UBUNTU).read_text()
    cut = Path(EL9).read_text()[:2000]
    monkeypatch.setattr(sys, "stdin", io.StringIO(whole + cut))
    rc, out, err = run_cli(["baseline", "-"])
    assert (rc, out) == (1, "")
    assert err == ("vmplatform: error: <stdin> (report 2): truncated JSON (ends at line 76, column 7: Unterminated "
                   "string starting at)\n  hint: produce a fresh one on that host with 'vmplatform probe --json > "
                   "REPORT.json'\n")


def test_garbage_between_reports_on_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(Path(UBUNTU).read_text() + "\nhello\n"))
    rc, _, err = run_cli(["merge", "-"])
    assert rc == 1
    assert err.startswith("vmplatform: error: <stdin> (report 2): invalid JSON at line 1, column 1: Expecting value\n")


def test_empty_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run_cli(["baseline", "-"]) == (2, "", "vmplatform: error: no host reports given\n  hint: pass REPORT.json "
                                                 "files, directories of them, or - for stdin\n")


@pytest.mark.parametrize("command", [["baseline"], ["merge"], ["compare"]])
def test_duplicate_hosts(command: list[str]) -> None:
    rc, out, err = run_cli([*command, EL9, EL9])
    assert (rc, out, err) == (2, "", "vmplatform: error: the same host appears twice: el9-5.14\n"
                                     "  hint: pass one report per host\n")


def test_duplicate_hosts_across_a_directory_and_a_file() -> None:
    rc, _, err = run_cli(["baseline", str(HOSTS), UBUNTU])
    assert (rc, err) == (2, "vmplatform: error: the same host appears twice: ubuntu2404-6.8\n"
                            "  hint: pass one report per host\n")


def test_domain_xml_without_machine() -> None:
    path = DOMAINS / "no-machine.xml"
    rc, out, err = run_cli(["analyze", "--host", EL9, "--domain-xml", str(path)])
    assert (rc, out) == (1, "")
    assert err == (f"vmplatform: error: {path}: the domain has no machine type (<os><type machine='...'>)\n"
                   "  hint: libvirt fills it in when the domain is defined: use 'virsh dumpxml DOMAIN', or add "
                   "machine='pc-q35-10.0' to <os><type>\n")


@pytest.mark.parametrize(("xml", "message"), [
    ("<domain type='kvm'><name>x</name>", "D: not well-formed XML (line 1, column 33): no element found"),
    ("<network><name>x</name></network>", "D: not a libvirt domain XML (root element <network>)"),
    ("<domain type='xen'><name>x</name></domain>", "D: <domain type='xen'> is not a QEMU domain"),
    ("<domain type='kvm'><os><type machine='pc-q35-10.0'>hvm</type></os><devices><interface type='bridge'>"
     "<model type='virtio'/><driver><host csum='maybe'/></driver></interface></devices></domain>",
     "D: <driver><host csum='maybe': expected 'on' or 'off'"),
    ("<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><os><type machine='q35'>hvm"
     "</type></os><qemu:override><qemu:device alias='net0'><qemu:frontend><qemu:property name='host_uso' "
     "type='boolean' value='false'/></qemu:frontend></qemu:device></qemu:override></domain>",
     "D: <qemu:device alias='net0'> property 'host_uso': unknown type 'boolean'"),
    ("<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><os><type machine='q35'>hvm"
     "</type></os><qemu:override><qemu:device alias='net0'><qemu:frontend><qemu:property name='host_uso' "
     "type='bool' value='no'/></qemu:frontend></qemu:device></qemu:override></domain>",
     "D: <qemu:device alias='net0'> property 'host_uso': bool value 'no' is not true or false"),
])
def test_bad_domain_xml(tmp_path: Path, xml: str, message: str) -> None:
    path = tmp_path / "d.xml"
    path.write_text(xml)
    rc, out, err = run_cli(["analyze", "--host", EL9, "--domain-xml", str(path)])
    assert (rc, out) == (1, "")
    assert err.replace(str(path), "D").splitlines()[0] == f"vmplatform: error: {message}"


def test_domain_xml_and_argv_together() -> None:
    rc, _, err = run_cli(["analyze", "--host", EL9, "--domain-xml", str(DOMAINS / "tiny-tcg.xml"), "--", "-M", "q35"])
    assert (rc, err) == (2, "vmplatform: error: vmplatform analyze: give one VM, not --domain-xml and a QEMU "
                            "argv\n")


@pytest.mark.parametrize("command", [
    ["analyze", "--host", EL9, "--platform", "linux-9.99", "--", "-M", "q35"],
    ["libvirt", "pin", "--host", EL9, "--platform", "linux-9.99", "--domain-xml", str(DOMAINS / "tiny-tcg.xml")],
])
def test_unknown_platform(command: list[str]) -> None:
    assert run_cli(command) == (1, "", "vmplatform: error: unknown platform 'linux-9.99': newer than the newest "
                                       "release this vmplatform knows (linux-7.1)\n  hint: use linux-7.1 (it "
                                       "guarantees every feature the catalog knows up to its release), or update "
                                       "vmplatform\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--scope", "host", "--platform", "linux-6.1"], "--platform is for --scope platform, not --scope host"),
    (["--scope", "platform", "--hosts", EL9], "--hosts is for --scope hosts or anywhere, not --scope platform"),
    (["--scope", "anywhere"], "--scope anywhere needs --hosts DIR (a directory of host reports)"),
])
def test_inconsistent_scope_options(args: list[str], message: str) -> None:
    rc, _, err = run_cli(["analyze", "--host", EL9, *args, "--", "-M", "q35"])
    assert (rc, err.splitlines()[0]) == (2, f"vmplatform: error: {message}")


def test_vhost_without_vhost_net_is_refused_by_analyze() -> None:
    pvm = str(HOSTS / "vm-debian12-6.18-pvm.json")
    rc, out, err = run_cli(["analyze", "--host", pvm, "--", "-machine", "pc-q35-10.0,accel=kvm,smm=off", "-netdev",
                            "tap,id=n0,vhost=on", "-device", "virtio-net-pci,netdev=n0,id=net0"])
    assert (rc, out) == (1, "")
    assert err.splitlines()[:2] == [
        "vmplatform: error: host vm cannot run this VM:",
        "  - lacks vhost-net (a host with it enabled: kernel config, module or privilege), required by "
        "virtio-net-pci net0: QEMU opens it for this device's backend"]


def test_merge_bad_name() -> None:
    assert run_cli(["merge", "--name", "rack 12", EL9, UBUNTU]) == (
        2, "", "vmplatform: error: platform name 'rack 12' has characters outside [a-zA-Z0-9_.-]\n"
               "  hint: pick a name like 'merge-rack12' (libvirt's machine-name charset)\n")


def test_compare_needs_two_reports(tmp_path: Path) -> None:
    for name in ("el8-4.18", "debian12-6.1"):
        (tmp_path / f"{name}.json").write_text((HOSTS / f"{name}.json").read_text())
    assert run_cli(["compare", str(tmp_path), EL9]) == (
        2, "", "vmplatform: error: compare needs exactly two host reports, got 3\n"
               "  hint: pass two report files (not directories), e.g. compare A.json B.json\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["migrate", "--source", "/s", "--dest", "/d", "--uri", "tcp:h:1", "--timeout", "-5"],
     "vmplatform migrate: argument --timeout: '-5' is not a positive number of seconds"),
    (["migrate", "--source", "/s", "--dest", "/d", "--uri", "tcp:h:1", "--timeout", "nan"],
     "vmplatform migrate: argument --timeout: 'nan' is not a positive number of seconds"),
    (["qmp", "--connect", "/s", "--listen", "/l", "--greeting-timeout", "soon"],
     "vmplatform qmp: argument --greeting-timeout: invalid number of seconds: 'soon'"),
])
def test_a_time_an_option_cannot_take_is_a_usage_error(argv: list[str], message: str) -> None:
    """Refused before any socket is opened: exit 2, as every other bad option value."""
    rc, out, err = run_cli(argv)
    assert (rc, out, err.splitlines()[0]) == (2, "", f"vmplatform: error: {message}")
