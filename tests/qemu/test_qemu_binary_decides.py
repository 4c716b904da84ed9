"""The QEMU that runs decides machine types, properties and aliases.

``vmplatform qemu`` imports the machine catalog of the binary it will exec on
first use and caches it per binary (path, size, mtime); a binary it cannot
import from is refused. Help requests go straight to QEMU.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.harness.cli import run_vmplatform
from tests.harness.requirements import missing_qemu, missing_qmp_library, skip_unless
from vmplatform.errors import QemuError
from vmplatform.model.machines import DATA_DIR
from vmplatform.qemu.binary import catalog_path, find_qemu, machine_catalog_of

pytestmark = pytest.mark.qemu

HOSTS = Path(__file__).parent.parent / "data" / "hosts"
TUNNEL = ("host_tunnel", "host_tunnel_csum", "guest_tunnel", "guest_tunnel_csum")


def _require() -> None:
    skip_unless(missing_qemu, missing_qmp_library)


def test_catalog_imported_from_the_binary_once_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _require()
    monkeypatch.setenv("VMPLATFORM_CACHE_DIR", str(tmp_path))
    binary = find_qemu()
    mc = machine_catalog_of(binary)
    version = re.search(r"version (\d+\.\d+\.\d+)", subprocess.run([binary, "-version"], capture_output=True,
                                                                 text=True, check=True).stdout)
    assert version is not None and mc.qemu_version == version.group(1)
    assert Path(catalog_path(binary)).is_file() and Path(catalog_path(binary)).is_relative_to(tmp_path)
    # aliases come from this binary's '-device help'
    help_text = subprocess.run([binary, "-machine", "none", "-device", "help"], capture_output=True, text=True,
                               check=True).stdout
    assert 'name "virtio-net-pci", bus PCI, alias "virtio-net"' in help_text
    assert mc.aliases["virtio-net"] == "virtio-net-pci"

    def no_import(*_: Any) -> Any:
        raise AssertionError("imported again although cached")

    monkeypatch.setattr("vmplatform.qemu.catalog_import.import_from_qemu", no_import)
    again = machine_catalog_of(binary)
    assert again.qemu_version == mc.qemu_version and set(again.machines) == set(mc.machines)


def test_a_binary_without_a_catalog_that_cannot_be_imported_is_refused(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _require()
    monkeypatch.setenv("VMPLATFORM_CACHE_DIR", str(tmp_path / "cache"))
    fake = tmp_path / "qemu-system-x86_64"
    fake.write_text("#!/bin/sh\necho 'QEMU emulator version 10.2.0'\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(QemuError, match=f"cannot read the machine types of {re.escape(str(fake))}"):
        machine_catalog_of(str(fake))
    rc, out, err = run_cli(["qemu", "--dry-run", "--qemu-binary", str(fake), "--host",
                            str(HOSTS / "debian13-6.12.json"), "-machine", "pc-q35-10.0"],
                           env={"VMPLATFORM_CACHE_DIR": str(tmp_path / "cache")})
    assert (rc, out) == (1, "") and "cannot read the machine types of" in err and "Traceback" not in err


def _catalog_10_2(tmp_path: Path) -> Path:
    """The packaged 10.0.2 snapshot as a 10.2 binary reports it: the four UDP-tunnel properties exist on
    virtio-net (default true, qemu-10.2.0 hw/net/virtio-net.c, see data/features.toml tap-udp-tunnel-gso)."""
    obj = json.loads((DATA_DIR / "machines" / "qemu-10.0.2-x86_64.json").read_text())
    obj["qemu-version"] = "10.2.0"
    for t in ("virtio-net-device", "virtio-net-pci", "virtio-net-pci-transitional",
              "virtio-net-pci-non-transitional"):
        obj["device-defaults"][t].update({p: "on" for p in TUNNEL})
    path = tmp_path / "qemu-10.2.0.json"
    path.write_text(json.dumps(obj))
    return path


def _device_pins(stdout: str) -> dict[str, str]:
    lines = stdout.splitlines()
    text = lines[lines.index("-device") + 1]
    return dict(kv.split("=", 1) for kv in text.split(",")[1:])


@pytest.mark.parametrize(("platform", "want"), [("linux-6.12", "off"), ("linux-6.17", "on")])
def test_properties_of_a_newer_qemu_are_pinned_when_the_binary_has_them(tmp_path: Path, platform: str,
                                                                        want: str) -> None:
    argv = ["-platform", platform, "-machine", "pc-q35-10.0", "-netdev", "tap,id=n0", "-device",
            "virtio-net-pci,netdev=n0,id=net0"]
    host = ["--host", str(HOSTS / "debian13-6.12.json")] if platform == "linux-6.12" else [
        "--host", str(HOSTS / "vm-debian12-6.18-pvm.json")]
    rc, out, err = run_cli(["qemu", "--dry-run", "--machine-catalog", str(_catalog_10_2(tmp_path)), *host, *argv])
    assert rc == 0, err  # the 6.18 host report (captured) has tap-udp-tunnel-gso supported
    pins = _device_pins(out)
    assert {p: pins.get(p) for p in TUNNEL} == {p: want for p in TUNNEL}
    # the 10.0.2 snapshot has no such property: never pinned there
    rc, out, err = run_cli(["qemu", "--dry-run", "--machine-catalog",
                            str(DATA_DIR / "machines" / "qemu-10.0.2-x86_64.json"), *host, *argv])
    assert rc == 0, err
    assert not set(TUNNEL) & set(_device_pins(out))


@pytest.mark.parametrize(("args", "expect"), [
    (["-machine", "help"], r"pc-q35-10\.0"),
    (["-device", "help"], r'alias "virtio-net"'),
    (["-version"], r"QEMU emulator version \d+"),
    (["-device", "virtio-net-pci,help"], r"host_uso=<bool>"),
])
def test_help_requests_pass_straight_to_qemu(args: list[str], expect: str) -> None:
    _require()
    proc = run_vmplatform(["qemu", "--host", str(HOSTS / "debian13-6.12.json"), *args])
    assert proc.returncode == 0, proc.stderr
    assert re.search(expect, proc.stdout), proc.stdout[:500]
    assert "vmplatform" not in proc.stderr
