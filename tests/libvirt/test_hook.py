"""The libvirt qemu hook, run exactly as libvirt runs it (docs/hooks.rst, src/util/virhook.c):
the program installed as ``hooks/qemu``, argv ``GUEST OPERATION SUB-OPERATION EXTRA``,
the domain XML on stdin, libvirt's small environment (virCommandAddEnvPassCommon).

No libvirt daemon here: test_libvirt_daemon.py has that. Each test runs twice: the hook as its own
process, as libvirt runs it, and the same entry point called in this process with the same argv,
stdin and environment (so that a fault planted in the package is seen by the tests).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.harness.corpus import DOMAINS, HOSTS, MANIFESTS, NETWORKS, console_script
from vmplatform.libvirt._xml import serialize
from vmplatform.libvirt.domain import read_domain
from vmplatform.libvirt.network import DIRS_ENV
from vmplatform.libvirt.pin import pin_manifest
from vmplatform.resolution.manifest import loads

IN_PROCESS = Path("in-process")


@pytest.fixture(scope="module", params=["process", "in-process"])
def hook(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if request.param == "in-process":
        return IN_PROCESS
    hooks = tmp_path_factory.mktemp("hooks")
    hook_bin = console_script("vmplatform-libvirt-hook", "vmplatform.libvirt.hook", hooks)
    (hooks / "qemu").symlink_to(hook_bin)
    return hooks / "qemu"


def run_hook(hook: Path, args: list[str], stdin: bytes, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """The hook with ``args``, ``stdin`` and exactly ``env``: its own process, or its entry point here."""
    if hook != IN_PROCESS:
        return subprocess.run([str(hook), *args], input=stdin, capture_output=True, env=env, timeout=60, check=False)
    from vmplatform.libvirt.hook import main

    saved_env, saved_stdin, saved_argv = dict(os.environ), sys.stdin, sys.argv
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    sys.argv = ["/etc/libvirt/hooks/qemu", *args]   # as the console script calls it: main()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            rc = main()
    finally:
        sys.stdin, sys.argv = saved_stdin, saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(args, rc, out.getvalue().encode(), err.getvalue().encode())


def libvirt_env(report: str | None) -> dict[str, str]:
    env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           DIRS_ENV: str(NETWORKS)}  # what a wrapper would set: web1's network 'default' is defined there
    if report is not None:
        env["VMPLATFORM_HOST_REPORT"] = str(HOSTS / f"{report}.json")
    return env


def call(hook: Path, xml: str, guest: str, op: str, sub: str, extra: str = "-",
         report: str | None = "el9-5.14") -> subprocess.CompletedProcess[bytes]:
    return run_hook(hook, [guest, op, sub, extra], xml.encode(), libvirt_env(report))


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
    assert (got.returncode, got.stdout) == (1, b"")
    assert got.stderr.decode().startswith(
        "vmplatform-libvirt-hook: refusing to start domain vmp-tiny: domain vmp-tiny: <metadata> vmplatform "
        "manifest: not a vmplatform manifest (schema 'vmplatform/manifest/9', expected 'vmplatform/manifest/1')\n")


def test_unreadable_host_report_refuses(hook: Path) -> None:
    env = libvirt_env(None) | {"VMPLATFORM_HOST_REPORT": "/nonexistent/report.json"}
    got = run_hook(hook, ["vmp-tiny", "start", "begin", "-"], domain_with(UBUNTU_VM).encode(), env)
    assert (got.returncode, got.stdout) == (1, b"")
    assert got.stderr.decode() == (
        "vmplatform-libvirt-hook: refusing to start domain vmp-tiny: /nonexistent/report.json "
        "(VMPLATFORM_HOST_REPORT): cannot read host report: No such file or directory\n"
        "  hint: point it at a file written by 'vmplatform probe --json', or unset it to probe this host\n")


def test_extra_is_optional(hook: Path) -> None:
    """GUEST OPERATION SUB-OPERATION is enough (libvirt always adds EXTRA, '-' when it has none)."""
    got = run_hook(hook, ["vmp-tiny", "start", "begin"], domain_with(UBUNTU_VM).encode(), libvirt_env("el9-5.14"))
    assert (got.returncode, got.stdout) == (1, b"")
    assert got.stderr.decode().startswith(f"vmplatform-libvirt-hook: refusing to start domain vmp-tiny: {REFUSAL}\n")
    short = run_hook(hook, ["vmp-tiny", "start"], domain_with(UBUNTU_VM).encode(), libvirt_env("el9-5.14"))
    assert short.returncode == 2 and short.stderr.decode().startswith("vmplatform-libvirt-hook: usage: ")


def test_usage_error_without_arguments(hook: Path) -> None:
    got = run_hook(hook, [], b"", libvirt_env(None))
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
    # with an empty probe cache it probes this host itself, and writes nothing there
    runtime = tmp_path / "run"
    env = libvirt_env(None) | {"VMPLATFORM_RUNTIME_DIR": str(runtime)}
    fresh = run_hook(hook, ["vmp-tiny", "start", "begin", "-"], out.read_text().encode(), env)
    assert (fresh.returncode, fresh.stdout, fresh.stderr) == (0, b"", b"")
    assert not runtime.exists(), "the hook wrote its probe to the cache"


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


def _without_override(xml: str) -> str:
    start, end = xml.index("<qemu:override>"), xml.index("</qemu:override>") + len("</qemu:override>")
    return xml[:start] + xml[end:]


@pytest.mark.parametrize(("scope", "hint_scope"), [
    (("--scope", "host"), "--scope host"),
    (("--scope", "hosts", "--hosts", str(HOSTS / "el9-5.14.json"), str(HOSTS / "debian13-6.12.json")),
     "--scope hosts --hosts REPORT..."),
    (("--scope", "anywhere", "--hosts", str(HOSTS / "el9-5.14.json"), str(HOSTS / "debian13-6.12.json")),
     "--scope anywhere --hosts REPORT..."),
    (("--platform", "linux-5.14"), "--platform linux-5.14")])
def test_the_re_pin_hint_pins_to_the_same_scope_again(hook: Path, tmp_path: Path, scope: tuple[str, ...],
                                                       hint_scope: str) -> None:
    """The hint repeats the scope the VM was pinned with (the one its manifest names)."""
    xml = _pin("web1-kvm.xml", "el9-5.14", tmp_path, *scope)
    got = call(hook, _without_override(xml), "web1", "start", "begin")
    assert got.returncode == 1
    assert got.stderr.decode().endswith(
        f"  hint: re-pin it with 'vmplatform libvirt pin --domain-xml FILE {hint_scope}' (QEMU would otherwise "
        "decide these properties from its defaults: a different guest ABI)\n")


def test_a_machine_type_changed_by_a_qemu_update_refuses_the_start(hook: Path, tmp_path: Path) -> None:
    """VMPLATFORM_MACHINE_CATALOG names the machine catalog of this host's QEMU: a pc-q35-10.0 that
    gained hw_compat_8_1's USO-off props (what RHEL-80313 did to pc-q35-rhel9.6.0) turns the USO
    the VM was created with off, so the start is refused."""
    import copy
    import json

    from tests.model.test_machine_catalogs import USO, USO_OFF, machine, shipped_obj

    # web1's net0 sets guest_uso6=off itself (tests/data/domains/web1-kvm.xml): a user's own value
    # is no drift; host_uso and guest_uso4 were pinned on by the platform (linux-6.8 has USO).
    xml = _pin("web1-kvm.xml", "ubuntu2404-6.8", tmp_path, "--platform", "linux-6.8")
    after = shipped_obj()
    after["qemu-version"] = "10.0.2-drift"
    machine(after, "pc-q35-10.0")["compat-props"] += copy.deepcopy(USO_OFF)
    drifted = tmp_path / "drifted.json"
    drifted.write_text(json.dumps(after))
    env = libvirt_env("ubuntu2404-6.8") | {"VMPLATFORM_MACHINE_CATALOG": str(drifted)}
    got = run_hook(hook, ["web1", "start", "begin", "-"], xml.encode(), env)
    assert (got.returncode, got.stdout) == (1, b"")
    first = got.stderr.decode().splitlines()[0]
    assert first.startswith("vmplatform-libvirt-hook: refusing to start domain web1: incompatible: ")
    assert [p for p in USO if f"now turns virtio-net-device.{p} off, the VM was created with on" in first] == \
        ["host_uso", "guest_uso4"]
    same = tmp_path / "same.json"
    same.write_text(json.dumps(shipped_obj()))
    env["VMPLATFORM_MACHINE_CATALOG"] = str(same)
    ok = run_hook(hook, ["web1", "start", "begin", "-"], xml.encode(), env)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, b"", b"")


def test_a_network_the_host_does_not_define_refuses_with_the_domain_named(hook: Path, tmp_path: Path) -> None:
    """web1's net0 is on libvirt network 'default' (tests/data/networks); renamed to one this host does
    not define, the hook cannot tell what the interface's backend is and refuses."""
    xml = _pin("web1-kvm.xml", "el9-5.14", tmp_path).replace('<source network="default"', '<source network="nosuch"')
    assert "nosuch" in xml
    got = call(hook, xml, "web1", "start", "begin")
    assert (got.returncode, got.stdout) == (1, b"")
    assert got.stderr.decode().startswith("vmplatform-libvirt-hook: refusing to start domain web1: domain web1")


def test_a_manifest_without_its_first_host_is_still_not_received(hook: Path) -> None:
    """A host-scope manifest that does not say where it was analysed (analysed-on is optional)."""
    import json

    from vmplatform.libvirt.metadata import with_manifest

    obj = json.loads((MANIFESTS / "el9-5.14-host.json").read_text())
    del obj["analysed-on"]
    text = (DOMAINS / "tiny-tcg.xml").read_text()
    xml = with_manifest(text, loads(json.dumps(obj)), "tiny-tcg.xml")
    got = call(hook, xml, "vmp-tiny", "migrate", "begin", report="debian13-6.12")
    assert (got.returncode, got.stdout) == (1, b"")
    assert got.stderr.decode().startswith(
        "vmplatform-libvirt-hook: refusing to receive the incoming migration of domain vmp-tiny: it was created "
        "with scope host on its first host and is not migratable\n")


def test_a_broken_host_report_names_its_file(hook: Path, tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text('{"schema": "vmplatform/host-report/1", ')
    env = libvirt_env(None) | {"VMPLATFORM_HOST_REPORT": str(bad)}
    got = run_hook(hook, ["vmp-tiny", "start", "begin", "-"], domain_with(UBUNTU_VM).encode(), env)
    assert (got.returncode, got.stdout) == (1, b"")
    assert got.stderr.decode().startswith(f"vmplatform-libvirt-hook: refusing to start domain vmp-tiny: {bad}")


def test_decide_passes_what_it_does_not_guard() -> None:
    """The decision alone: an operation it does not guard, or a domain without a manifest, passes;
    only migrate (a filter) gives the XML back."""
    from vmplatform.libvirt.admission import decide

    xml = domain_with(UBUNTU_VM)
    assert decide("vmp-tiny", "started", "begin", xml) == (0, "", "")
    assert decide("vmp-tiny", "migrate", "end", xml) == (0, xml, "")
    # the namespace is there (a comment), the manifest is not
    plain = (DOMAINS / "tiny-tcg.xml").read_text().replace(
        "</domain>", "<!-- https://vmplatform.dev/xmlns/manifest/1 --></domain>")
    assert decide("vmp-tiny", "start", "begin", plain) == (0, "", "")
    assert decide("vmp-tiny", "migrate", "begin", plain) == (0, plain, "")


def test_drift_is_judged_with_this_hosts_machine_catalog(hook: Path, tmp_path: Path) -> None:
    """A machine type only this host's QEMU knows (a pc-q35-10.2 added to the shipped 10.0.2 catalog,
    with pc-q35-10.0's compat props): the packaged catalog cannot resolve it, the named one can, and
    finds the pins the XML lost."""
    import copy
    import json

    from tests.model.test_machine_catalogs import machine, shipped_obj

    newer = shipped_obj()
    m102 = copy.deepcopy(machine(newer, "pc-q35-10.0"))
    m102.update({"name": "pc-q35-10.2", "alias": None, "is-default": False})
    newer["machines"].append(m102)
    cat = tmp_path / "qemu-with-10.2.json"
    cat.write_text(json.dumps(newer))
    domain = tmp_path / "web1-102.xml"
    domain.write_text((DOMAINS / "web1-kvm.xml").read_text().replace("machine='pc-q35-10.0'", "machine='pc-q35-10.2'"))
    out = tmp_path / "pinned.xml"
    from tests.conftest import run_cli

    rc, _, err = run_cli(["libvirt", "pin", "--host", str(HOSTS / "el9-5.14.json"), "--machine-catalog", str(cat),
                          "--network-xml", str(NETWORKS / "default.xml"), "--domain-xml", str(domain), "-o", str(out)])
    assert rc == 0, err
    lost = _without_override(out.read_text())
    env = libvirt_env("el9-5.14") | {"VMPLATFORM_MACHINE_CATALOG": str(cat)}
    got = run_hook(hook, ["web1", "start", "begin", "-"], lost.encode(), env)
    assert (got.returncode, got.stdout) == (1, b"")
    assert "domain web1 no longer carries its pinned properties: net0 host_uso is on in the XML" in got.stderr.decode()
