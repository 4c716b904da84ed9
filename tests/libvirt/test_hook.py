"""The libvirt qemu hook, run exactly as libvirt runs it (docs/hooks.rst, src/util/virhook.c):
the program installed as ``hooks/qemu``, argv ``GUEST OPERATION SUB-OPERATION EXTRA``,
the domain XML on stdin, libvirt's small environment (virCommandAddEnvPassCommon).

No libvirt daemon here: test_libvirt_daemon.py has that.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.corpus import DOMAINS, HOSTS, MANIFESTS, NETWORKS, console_script
from vmplatform.libvirt._xml import serialize
from vmplatform.libvirt.domain import read_domain
from vmplatform.libvirt.network import DIRS_ENV
from vmplatform.libvirt.pin import pin_manifest
from vmplatform.resolution.manifest import loads


@pytest.fixture(scope="module")
def hook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    hooks = tmp_path_factory.mktemp("hooks")
    hook_bin = console_script("vmplatform-libvirt-hook", "vmplatform.libvirt.hook", hooks)
    (hooks / "qemu").symlink_to(hook_bin)
    return hooks / "qemu"


def libvirt_env(report: str | None) -> dict[str, str]:
    env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           DIRS_ENV: str(NETWORKS)}  # what a wrapper would set: web1's network 'default' is defined there
    if report is not None:
        env["VMPLATFORM_HOST_REPORT"] = str(HOSTS / f"{report}.json")
    return env


def call(hook: Path, xml: str, guest: str, op: str, sub: str, extra: str = "-",
         report: str | None = "el9-5.14") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(hook), guest, op, sub, extra], input=xml.encode(), capture_output=True,
                          env=libvirt_env(report), timeout=60, check=False)


def domain_with(manifest_file: str) -> str:
    """tiny-tcg.xml carrying the manifest and its pins (the hook refuses a domain that lost its pins)."""
    manifest = loads((MANIFESTS / manifest_file).read_text(), manifest_file)
    text = (DOMAINS / "tiny-tcg.xml").read_text()
    domain, doc = read_domain(text, "tiny-tcg.xml", vhost_available=False)
    assert pin_manifest(doc, domain, manifest) == []
    return serialize(doc, text)


UBUNTU_VM = "ubuntu2404-6.8-default.json"      # relies on tap-uso: el9 lacks it
REFUSAL = ("subset: host el9-5.14 lacks tap-uso (Linux >= 6.2 / platform linux-6.2) required by virtio-net-pci "
           "net0 host_uso=on")


@pytest.mark.parametrize(("op", "verb"), [("prepare", "start domain"), ("start", "start domain"),
                                          ("migrate", "receive the incoming migration of domain")])
def test_refuses_a_domain_this_host_cannot_satisfy(hook: Path, op: str, verb: str) -> None:
    got = call(hook, domain_with(UBUNTU_VM), "vmp-tiny", op, "begin")
    assert got.returncode == 1
    assert got.stdout == b""
    assert got.stderr.decode() == (
        f"vmplatform-libvirt-hook: refusing to {verb} vmp-tiny: {REFUSAL}\n"
        "  hint: run it on a host that has these features, or recreate the VM with a platform this host supports "
        "('vmplatform query-platforms')\n")


def test_incoming_migration_accepted_passes_the_xml_through_unchanged(hook: Path) -> None:
    xml = domain_with(UBUNTU_VM)
    got = call(hook, xml, "vmp-tiny", "migrate", "begin", report="debian13-6.12")
    assert (got.returncode, got.stderr) == (0, b"")
    assert got.stdout == xml.encode()


@pytest.mark.parametrize(("op", "sub"), [("prepare", "begin"), ("start", "begin")])
def test_accepts_a_domain_this_host_satisfies(hook: Path, op: str, sub: str) -> None:
    got = call(hook, domain_with("el9-5.14-default.json"), "vmp-tiny", op, sub)
    assert (got.returncode, got.stdout, got.stderr) == (0, b"", b"")


@pytest.mark.parametrize(("op", "sub", "extra"), [
    ("started", "begin", "-"), ("stopped", "end", "-"), ("release", "end", "destroyed"),
    ("reconnect", "begin", "-"), ("attach", "begin", "-"), ("restore", "begin", "-")])
def test_other_operations_pass_without_output(hook: Path, op: str, sub: str, extra: str) -> None:
    got = call(hook, domain_with(UBUNTU_VM), "vmp-tiny", op, sub, extra)
    assert (got.returncode, got.stdout, got.stderr) == (0, b"", b"")


@pytest.mark.parametrize("op", ["prepare", "start", "migrate"])
def test_domains_without_a_manifest_pass(hook: Path, op: str) -> None:
    xml = (DOMAINS / "tiny-tcg.xml").read_text()
    got = call(hook, xml, "vmp-tiny", op, "begin")
    assert (got.returncode, got.stderr) == (0, b"")
    assert got.stdout == (xml.encode() if op == "migrate" else b"")


def test_a_broken_manifest_refuses_with_the_reason(hook: Path) -> None:
    xml = domain_with(UBUNTU_VM).replace('"schema":"vmplatform/manifest/1"', '"schema":"vmplatform/manifest/9"')
    got = call(hook, xml, "vmp-tiny", "start", "begin")
    assert got.returncode == 1
    assert got.stderr.decode().startswith(
        "vmplatform-libvirt-hook: refusing to start domain vmp-tiny: domain vmp-tiny: <metadata> vmplatform "
        "manifest: not a vmplatform manifest (schema 'vmplatform/manifest/9', expected 'vmplatform/manifest/1')\n")


def test_unreadable_host_report_refuses(hook: Path) -> None:
    env = libvirt_env(None) | {"VMPLATFORM_HOST_REPORT": "/nonexistent/report.json"}
    got = subprocess.run([str(hook), "vmp-tiny", "start", "begin", "-"], input=domain_with(UBUNTU_VM).encode(),
                         capture_output=True, env=env, timeout=60, check=False)
    assert got.returncode == 1
    assert got.stderr.decode().splitlines()[0] == (
        "vmplatform-libvirt-hook: refusing to start domain vmp-tiny: /nonexistent/report.json "
        "(VMPLATFORM_HOST_REPORT): cannot read host report: No such file or directory")


def test_usage_error_without_arguments(hook: Path) -> None:
    got = subprocess.run([str(hook)], input=b"", capture_output=True, env=libvirt_env(None), timeout=60, check=False)
    assert got.returncode == 2
    assert got.stderr.decode() == ("vmplatform-libvirt-hook: usage: vmplatform-libvirt-hook GUEST OPERATION "
                                   "SUB-OPERATION [EXTRA] (domain XML on stdin); install it as "
                                   "/etc/libvirt/hooks/qemu\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the real probe needs Linux")
def test_real_probe_accepts_a_manifest_made_from_this_host(hook: Path, tmp_path: Path) -> None:
    """No VMPLATFORM_HOST_REPORT: the hook probes this host with real ioctls, as it does under libvirt."""
    from tests.conftest import run_cli

    rc, report_json, _ = run_cli(["probe", "--json"])
    assert rc == 0
    (tmp_path / "here.json").write_text(report_json)
    out = tmp_path / "pinned.xml"
    rc, _, err = run_cli(["libvirt", "pin", "--host", str(tmp_path / "here.json"), "--scope", "host",
                          "--domain-xml", str(DOMAINS / "tiny-tcg.xml"), "-o", str(out)])
    assert rc == 0, err
    got = call(hook, out.read_text(), "vmp-tiny", "start", "begin", report=None)
    assert (got.returncode, got.stdout, got.stderr) == (0, b"", b"")


def test_a_non_migratable_vm_is_not_received(hook: Path) -> None:
    """Scope host pins everything the first host offers and marks the VM non-migratable."""
    got = call(hook, domain_with("el9-5.14-host.json"), "vmp-tiny", "migrate", "begin", report="debian13-6.12")
    assert (got.returncode, got.stdout) == (1, b"")
    assert got.stderr.decode() == (
        "vmplatform-libvirt-hook: refusing to receive the incoming migration of domain vmp-tiny: it was created "
        "with scope host on el9-5.14 (Linux 5.14.0-503.11.1.el9_5.x86_64) and is not migratable\n"
        "  hint: recreate it with a migratable scope (vmplatform analyze --scope platform, hosts or anywhere)\n")
    started = call(hook, domain_with("el9-5.14-host.json"), "vmp-tiny", "start", "begin", report="debian13-6.12")
    assert started.returncode == 0  # starting it elsewhere (cold) is fine when the host has what it needs


def _pin(domain_file: str, host: str, tmp_path: Path, *scope: str) -> str:
    from tests.conftest import run_cli

    out = tmp_path / f"pinned-{domain_file}"
    rc, _, err = run_cli(["libvirt", "pin", "--host", str(HOSTS / f"{host}.json"), *scope, "--network-xml",
                          str(NETWORKS / "default.xml"),
                          "--domain-xml", str(DOMAINS / domain_file), "-o", str(out)])
    assert rc == 0, err
    return out.read_text()


@pytest.mark.parametrize(("domain_file", "host", "scope"), [
    ("tiny-tcg.xml", "el9-5.14", ()), ("tiny-tcg.xml", "debian13-6.12", ("--scope", "host")),
    ("web1-kvm.xml", "el9-5.14", ()), ("web1-kvm.xml", "debian13-6.12", ()),
    ("web1-kvm.xml", "ubuntu2404-6.8", ("--scope", "host"))])
def test_a_freshly_pinned_domain_passes(hook: Path, tmp_path: Path, domain_file: str, host: str,
                                        scope: tuple[str, ...]) -> None:
    xml = _pin(domain_file, host, tmp_path, *scope)
    for op in ("prepare", "start"):
        got = call(hook, xml, "vmp", op, "begin", report=host)
        assert (got.returncode, got.stdout, got.stderr) == (0, b"", b"")
    if not scope:
        got = call(hook, xml, "vmp", "migrate", "begin", report=host)
        assert (got.returncode, got.stdout, got.stderr) == (0, xml.encode(), b"")


DRIFT_HINT = ("  hint: re-pin it with 'vmplatform libvirt pin --domain-xml FILE --platform linux-rhel-9.5' (QEMU "
              "would otherwise decide these properties from its defaults: a different guest ABI)\n")


@pytest.mark.parametrize(("op", "verb"), [("prepare", "start domain"), ("start", "start domain"),
                                          ("migrate", "receive the incoming migration of domain")])
def test_a_domain_that_lost_its_pins_is_refused(hook: Path, tmp_path: Path, op: str, verb: str) -> None:
    xml = _pin("web1-kvm.xml", "el9-5.14", tmp_path)
    got = call(hook, xml, "web1", op, "begin")
    assert (got.returncode, got.stderr) == (0, b"")

    start, end = xml.index("<qemu:override>"), xml.index("</qemu:override>") + len("</qemu:override>")
    no_override = xml[:start] + xml[end:]
    got = call(hook, no_override, "web1", op, "begin")
    assert (got.returncode, got.stdout) == (1, b"")
    assert got.stderr.decode() == (
        f"vmplatform-libvirt-hook: refusing to {verb} web1: domain web1 no longer carries its pinned properties: "
        "net0 host_uso is on in the XML, the manifest pins off; net0 guest_uso4 is on in the XML, the manifest "
        "pins off; net0 guest_uso6 is on in the XML, the manifest pins off; net0 queue_reset is on in the XML, "
        "the manifest pins off\n" + DRIFT_HINT)

    host_csum_off = xml.replace('<host tso4="off" csum="on"', '<host tso4="off" csum="off"')  # net0's <driver>
    assert host_csum_off != xml
    got = call(hook, host_csum_off, "web1", op, "begin")
    assert (got.returncode, got.stdout) == (1, b"")
    assert got.stderr.decode() == (
        f"vmplatform-libvirt-hook: refusing to {verb} web1: domain web1 no longer carries its pinned properties: "
        "net0 csum is off in the XML, the manifest pins on\n" + DRIFT_HINT)


def test_a_pinned_interface_removed_from_the_xml_is_drift(hook: Path, tmp_path: Path) -> None:
    xml = _pin("web1-kvm.xml", "el9-5.14", tmp_path)
    start = xml.index('<interface type="user">')
    end = xml.index("</interface>", start) + len("</interface>")
    got = call(hook, xml[:start] + xml[end:], "web1", "start", "begin")
    assert got.returncode == 1
    assert "domain web1 no longer carries its pinned properties: net1 (virtio-net-pci) is not in the XML, " \
           "the manifest pins its properties\n" in got.stderr.decode()
