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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.compat.conftest import DOMAINS, HOSTS, console_script
from tests.conftest import run_cli
from vmplatform.libvirt.metadata import manifest_of

pytestmark = pytest.mark.qemu

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
    assert got.returncode != 0
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
                              "arguments": {"path": "/machine/peripheral/net0", "property": pin.property}})
            answer = libvirtd.virsh("qemu-monitor-command", "vmp-tiny", qmp)
            assert answer.returncode == 0, answer.stderr
            assert json.loads(answer.stdout)["return"] is (pin.value == "on"), pin
    finally:
        libvirtd.virsh("destroy", "vmp-tiny")


def test_domain_without_manifest_starts(libvirtd: Daemon) -> None:
    libvirtd.simulate_host("el9-5.14")
    got = libvirtd.virsh("create", str(DOMAINS / "tiny-tcg.xml"))
    assert got.returncode == 0, got.stderr
    libvirtd.virsh("destroy", "vmp-tiny")
