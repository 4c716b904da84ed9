"""The hook under a real libvirt daemon (libvirt 11.3 from bookworm-backports).

libvirt looks for hooks only in the compiled-in ``$SYSCONFDIR/libvirt/hooks``
(src/util/virhook.c: ``LIBVIRT_HOOK_DIR``), and only when the daemon starts
(docs/hooks.rst). To leave the machine's /etc/libvirt alone, the daemon runs
in a private mount namespace (``unshare -m``) where a temporary directory is
bind-mounted over /etc/libvirt/hooks, and temporary ones over the daemon's
state directories; ``stdio_handler = "file"`` (a private qemu.conf) spares a
virtlogd. ``virsh`` joins that namespace with ``nsenter``.

The installed hook is a two-line wrapper around ``vmplatform-libvirt-hook``
(libvirt passes hooks a fixed environment, so a wrapper is how a host report
file would be configured): it reads ``hook.env`` in the test directory, which
each test sets to simulate a host (``VMPLATFORM_HOST_REPORT``) or leaves empty
for the real probe of this machine.

Skipped, with the reason, where libvirt cannot run: not root, binaries missing,
or the daemon does not come up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.harness.corpus import DOMAINS, HOSTS, console_script
from tests.harness.requirements import missing_libvirtd, skip_unless
from vmplatform.libvirt.metadata import manifest_of

pytestmark = [pytest.mark.libvirtd, pytest.mark.qemu]

QEMU = Path("/usr/bin/qemu-system-x86_64")  # the <emulator> of tiny-tcg.xml
STATE_DIRS = {"run": "/run", "lib": "/var/lib/libvirt", "log": "/var/log/libvirt", "cache": "/var/cache/libvirt"}


@dataclass(frozen=True)
class Daemon:
    pid: int
    base: Path

    def virsh(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", "-t", str(self.pid), "-m", "virsh", "-c", "qemu:///system", *args],
                              capture_output=True, text=True, timeout=120, check=False)

    def simulate_host(self, report: str | None) -> None:
        env = f"export VMPLATFORM_HOST_REPORT={HOSTS / report}.json\n" if report else ""
        (self.base / "hook.env").write_text(env)


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (libvirtd system daemon, mount namespace)"
    for tool in ("libvirtd", "virsh", "unshare", "nsenter"):
        if shutil.which(tool) is None:
            return (f"{tool} is not installed (apt-get install -t bookworm-backports libvirt-daemon-system "
                    "libvirt-clients libvirt-daemon-driver-qemu)")
    if not QEMU.exists():
        return f"{QEMU} is not installed"
    for target in ("/etc/libvirt/hooks", "/etc/libvirt/qemu.conf", *STATE_DIRS.values()):
        if not Path(target).exists():
            return f"{target} does not exist (incomplete libvirt installation)"
    return None


@pytest.fixture(scope="module")
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    skip_unless(missing_libvirtd)
    reason = _missing()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("libvirt")
    for name in ("hooks", *STATE_DIRS):
        (base / name).mkdir()
    (base / "qemu.conf").write_text('stdio_handler = "file"\n')
    (base / "hook.env").write_text("")
    hook = base / "hooks" / "qemu"
    hook_bin = console_script("vmplatform-libvirt-hook", "vmplatform.libvirt.hook", base)
    hook.write_text(f"#!/bin/sh\n. {base}/hook.env\nexec {hook_bin} \"$@\"\n")
    hook.chmod(0o755)
    mounts = [f"mount --bind {base}/hooks /etc/libvirt/hooks", f"mount --bind {base}/qemu.conf /etc/libvirt/qemu.conf"]
    mounts += [f"mount --bind {base}/{name} {target}" for name, target in STATE_DIRS.items()]
    log = (base / "libvirtd.log").open("w")
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-ec",
                             "; ".join(mounts) + "; exec libvirtd"], stdout=log, stderr=subprocess.STDOUT)
    sock = base / "run" / "libvirt" / "libvirt-sock"
    deadline = time.monotonic() + 60
    while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if not sock.exists():
        proc.kill()
        proc.wait()
        tail = (base / "libvirtd.log").read_text()[-1500:]
        pytest.skip(f"libvirtd did not come up here (exit {proc.returncode}): {tail}")
    daemon = Daemon(proc.pid, base)
    try:
        yield daemon
    finally:
        running = daemon.virsh("list", "--name").stdout.split()
        for name in running:
            daemon.virsh("destroy", name)
        proc.terminate()
        try:
            proc.wait(timeout=5)  # libvirtd may linger on SIGTERM; nothing of it is kept
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def pinned_domain(tmp_path: Path, *host_args: str) -> Path:
    out = tmp_path / "vmp-tiny.xml"
    rc, _, err = run_cli(["libvirt", "pin", *host_args, "--domain-xml", str(DOMAINS / "tiny-tcg.xml"),
                          "-o", str(out)])
    assert rc == 0, err
    return out


def test_virsh_create_refused_with_our_message(libvirtd: Daemon, tmp_path: Path) -> None:
    """A domain pinned on Ubuntu 24.04 (it relies on USO) cannot start on an EL9 host."""
    xml = pinned_domain(tmp_path, "--host", str(HOSTS / "ubuntu2404-6.8.json"))
    libvirtd.simulate_host("el9-5.14")
    got = libvirtd.virsh("create", str(xml))
    print(f"$ virsh create {xml.name}\n{got.stderr}")  # shown with pytest -rP: what a user sees
    assert got.returncode == 1   # virsh: EXIT_FAILURE when the command fails
    assert ("vmplatform-libvirt-hook: refusing to start domain vmp-tiny: subset: host el9-5.14 lacks tap-uso "
            "(Linux >= 6.2 / platform linux-6.2) required by virtio-net-pci net0 host_uso=on") in got.stderr
    assert "Hook script execution failed" in got.stderr
    assert "vmp-tiny" not in libvirtd.virsh("list", "--all", "--name").stdout


def test_pinned_domain_starts_on_this_host_with_its_pins(libvirtd: Daemon, tmp_path: Path) -> None:
    """Real probe in the hook; libvirt accepts the pinned XML and QEMU gets the pinned values."""
    rc, report, _ = run_cli(["probe", "--json"])
    assert rc == 0
    (tmp_path / "here.json").write_text(report)
    xml = pinned_domain(tmp_path, "--host", str(tmp_path / "here.json"))
    manifest = manifest_of(xml.read_text(), str(xml))
    assert manifest is not None
    libvirtd.simulate_host(None)
    got = libvirtd.virsh("create", str(xml))
    assert got.returncode == 0, got.stderr
    try:
        live = libvirtd.virsh("dumpxml", "vmp-tiny")
        assert live.returncode == 0, live.stderr
        assert manifest_of(live.stdout, "virsh dumpxml") == manifest  # the manifest survives libvirt
        for pin in (p for p in manifest.pins if p.device == "net0"):
            qmp = json.dumps({"execute": "qom-get",
                              "arguments": {"path": "/machine/peripheral/net0", "property": pin.prop}})
            answer = libvirtd.virsh("qemu-monitor-command", "vmp-tiny", qmp)
            assert answer.returncode == 0, answer.stderr
            assert json.loads(answer.stdout)["return"] is (pin.value == "on"), pin
    finally:
        libvirtd.virsh("destroy", "vmp-tiny")


# -- the <emulator> road: vmplatform-qemu -----------------------------------------------------------

def emulator_bin(where: Path) -> Path:
    """vmplatform-qemu, somewhere the unprivileged QEMU user libvirt runs it as can execute it."""
    script = console_script("vmplatform-qemu", "vmplatform.libvirt.emulator", where)
    return script


def emulated_domain(tmp_path: Path, name: str, *pin_args: str, commandline: str = "") -> Path:
    """tiny-tcg.xml run through vmplatform-qemu; with ``pin_args``, its manifest only (no pins) in <metadata>."""
    emu = emulator_bin(Path(tempfile.mkdtemp(prefix="vmp-emu-", dir="/tmp")))
    emu.parent.chmod(0o755)
    text = (DOMAINS / "tiny-tcg.xml").read_text().replace("<name>vmp-tiny</name>", f"<name>{name}</name>")
    text = text.replace("<uuid>0b5b1f3c-6f62-4b0e-8d9a-6b1f0e7c2a11</uuid>", "")
    text = text.replace("/usr/bin/qemu-system-x86_64", str(emu))
    if commandline:
        text = text.replace("<domain type='qemu'>",
                            "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>")
        text = text.replace("</devices>", f"</devices>\n  <qemu:commandline>{commandline}</qemu:commandline>")
    src = tmp_path / f"{name}-in.xml"
    src.write_text(text)
    if not pin_args:
        return src
    out = tmp_path / f"{name}.xml"
    rc, _, err = run_cli(["libvirt", "pin", "--metadata-only", *pin_args, "--domain-xml", str(src), "-o", str(out)])
    assert rc == 0, err
    return out


def qom(daemon: Daemon, domain: str, device: str, prop: str) -> object:
    qmp = json.dumps({"execute": "qom-get", "arguments": {"path": f"/machine/peripheral/{device}", "property": prop}})
    answer = daemon.virsh("qemu-monitor-command", domain, qmp)
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)["return"]


def test_emulator_domain_starts_with_its_manifests_platform(libvirtd: Daemon, tmp_path: Path) -> None:
    """The XML carries only the manifest (linux-6.1: no USO); vmplatform-qemu pins it, QEMU offers that."""
    rc, report, _ = run_cli(["probe", "--json"])
    assert rc == 0
    (tmp_path / "here.json").write_text(report)
    xml = emulated_domain(tmp_path, "vmp-emu", "--host", str(tmp_path / "here.json"), "--platform", "linux-6.1")
    assert "qemu:override" not in xml.read_text() and "<driver" not in xml.read_text()
    manifest = manifest_of(xml.read_text(), str(xml))
    assert manifest is not None and manifest.platform == "linux-6.1"
    libvirtd.simulate_host(None)
    got = libvirtd.virsh("create", str(xml))
    assert got.returncode == 0, got.stderr
    try:
        pins = [p for p in manifest.pins if p.device == "net0"]
        assert ("host_uso", "off") in [(p.prop, p.value) for p in pins]
        for pin in pins:
            assert qom(libvirtd, "vmp-emu", "net0", pin.prop) is (pin.value == "on"), pin
    finally:
        libvirtd.virsh("destroy", "vmp-emu")
    # libvirt probed vmplatform-qemu's capabilities (-machine none + QMP) and got the real QEMU's
    caps = {f: f.read_text() for f in (libvirtd.base / "cache" / "qemu" / "capabilities").glob("*.xml")}
    ours = [t for t in caps.values() if "vmplatform-qemu</emulator>" in t]
    real = [t for t in caps.values() if f"<emulator>{QEMU}</emulator>" in t]
    assert len(ours) == 1

    def flags(text: str) -> set[str]:
        return {line.strip() for line in text.splitlines() if "<flag name=" in line or "<version>" in line}

    if real:  # the real QEMU's own entry exists once a domain ran with it (the other tests)
        assert flags(ours[0]) == flags(real[0]) and len(flags(ours[0])) > 100


def test_emulator_domain_without_manifest_gets_the_hosts_default(libvirtd: Daemon, tmp_path: Path) -> None:
    xml = emulated_domain(tmp_path, "vmp-emu-default")
    libvirtd.simulate_host("el9-5.14")   # the hook hands the emulator this report: no USO
    got = libvirtd.virsh("create", str(xml))
    assert got.returncode == 0, got.stderr
    try:
        assert qom(libvirtd, "vmp-emu-default", "net0", "host_uso") is False   # linux-rhel-9.5: no USO
        assert qom(libvirtd, "vmp-emu-default", "net0", "host_ufo") is True
        log = (libvirtd.base / "log" / "qemu" / "vmp-emu-default.log").read_text()
        assert "vmplatform-qemu: no -platform given: using linux-rhel-9.5" in log
    finally:
        libvirtd.virsh("destroy", "vmp-emu-default")


def test_emulator_refusal_shows_in_virsh(libvirtd: Daemon, tmp_path: Path) -> None:
    """-platform in <qemu:commandline> asks for USO; the (simulated) EL9 host lacks it: refused."""
    xml = emulated_domain(tmp_path, "vmp-emu-refused",
                          commandline="<qemu:arg value='-platform'/><qemu:arg value='linux-6.2'/>")
    libvirtd.simulate_host("el9-5.14")
    got = libvirtd.virsh("create", str(xml))
    print(f"$ virsh create {xml.name}\n{got.stderr}")
    assert got.returncode == 1   # virsh: EXIT_FAILURE when the command fails
    # libvirt words the early exit by timing: "process exited while connecting to monitor: ..." or
    # "QEMU unexpectedly closed the monitor (vm='...'): ...", followed by the end of QEMU's stderr
    assert ("vmplatform-qemu: refusing to start domain vmp-emu-refused: host el9-5.14 cannot run this VM:\n"
            in got.stderr), got.stderr
    assert "  - lacks tap-uso (Linux >= 6.2 / platform linux-6.2), required by virtio-net-pci net0: host_uso=on" \
        in got.stderr, got.stderr
    assert "vmp-emu-refused" not in libvirtd.virsh("list", "--all", "--name").stdout


def test_hot_plugged_nic_gets_its_pins_from_the_device_xml(libvirtd: Daemon, tmp_path: Path) -> None:
    """virsh attach-device of a NIC pinned with 'libvirt pin --device-xml': QEMU gets the pinned values
    (libvirt applies <driver> attributes at hot-plug; <qemu:override> it does not, hence the refusal case
    in test_device_xml.py)."""
    from vmplatform.libvirt.domain import GUEST_ATTRS, HOST_ATTRS

    rc, report, _ = run_cli(["probe", "--json"])
    assert rc == 0
    (tmp_path / "here.json").write_text(report)
    text = (DOMAINS / "tiny-tcg.xml").read_text().replace("<name>vmp-tiny</name>", "<name>vmp-hot</name>")
    text = text.replace("<uuid>0b5b1f3c-6f62-4b0e-8d9a-6b1f0e7c2a11</uuid>", "").replace(
        "<memballoon", "<controller type='pci' index='0' model='pcie-root'/>"
        "<controller type='pci' index='1' model='pcie-root-port'/><controller type='pci' index='2' "
        "model='pcie-root-port'/><controller type='pci' index='3' model='pcie-root-port'/>\n    <memballoon")
    (tmp_path / "hot-in.xml").write_text(text)
    xml = tmp_path / "hot.xml"
    assert run_cli(["libvirt", "pin", "--host", str(tmp_path / "here.json"), "--domain-xml",
                    str(tmp_path / "hot-in.xml"), "-o", str(xml)])[0] == 0
    libvirtd.simulate_host(None)
    got = libvirtd.virsh("create", str(xml))
    assert got.returncode == 0, got.stderr
    try:
        live = tmp_path / "live.xml"
        live.write_text(libvirtd.virsh("dumpxml", "vmp-hot").stdout)
        nic = tmp_path / "nic.xml"
        nic.write_text("<interface type='ethernet'>\n  <model type='virtio'/>\n</interface>\n")
        pinned_nic = tmp_path / "nic-pinned.xml"
        rc, _, err = run_cli(["libvirt", "pin", "--host", str(tmp_path / "here.json"), "--domain-xml", str(live),
                              "--device-xml", str(nic), "-o", str(pinned_nic)])
        assert rc == 0, err
        attached = libvirtd.virsh("attach-device", "vmp-hot", str(pinned_nic))
        assert attached.returncode == 0, attached.stderr
        from xml.dom import minidom

        driver = minidom.parse(str(pinned_nic)).getElementsByTagName("driver")[0]
        checked = 0
        for element, table in (("host", HOST_ATTRS), ("guest", GUEST_ATTRS)):
            for attr, value in driver.getElementsByTagName(element)[0].attributes.items():
                assert qom(libvirtd, "vmp-hot", "net1", table[attr]) is (value == "on"), (element, attr)
                checked += 1
        assert checked >= 10
    finally:
        libvirtd.virsh("destroy", "vmp-hot")


def test_domain_without_manifest_starts(libvirtd: Daemon) -> None:
    libvirtd.simulate_host("el9-5.14")
    got = libvirtd.virsh("create", str(DOMAINS / "tiny-tcg.xml"))
    assert got.returncode == 0, got.stderr
    libvirtd.virsh("destroy", "vmp-tiny")
