"""Golden-file tests: every CLI invocation's exit code, stdout and stderr.

A mismatch fails with a unified diff. To accept new output on purpose:

    VMPLATFORM_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/cli/test_golden.py

then review the diff of tests/cli/golden/ like any other change. A missing
golden file is a failure, never silently created.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli
from vmplatform.model._toml import DATA_DIR

HERE = Path(__file__).parent
CASES_DIR = HERE / "golden"
HOSTS = HERE.parent / "data" / "hosts"
READCONFIG = HERE.parent / "data" / "readconfig"
REPO = HERE.parent.parent
REGEN = os.environ.get("VMPLATFORM_REGEN_GOLDEN") == "1"


def H(name: str) -> str:
    return str(HOSTS / f"{name}.json")


Q35_NET = ["-machine", "pc-q35-10.0", "-netdev", "tap,id=n0,script=no,downscript=no",
           "-device", "virtio-net-pci,netdev=n0,id=net0"]

CASES: dict[str, list[str]] = {
    # catalog and platforms
    "features": ["features"],
    "platforms-list": ["platforms", "list"],
    "platforms-show-rhel-9.5": ["platforms", "show", "linux-rhel-9.5"],
    "platforms-show-json-linux-6.2": ["platforms", "show", "linux-6.2", "--json"],
    "platforms-show-unknown": ["platforms", "show", "linux-6.22"],
    "platforms-show-missing-name": ["platforms", "show"],
    "platforms-show-linux-6.18-derived": ["platforms", "show", "linux-6.18"],
    "platforms-show-beyond-newest": ["platforms", "show", "linux-7.2"],
    "query-platforms-ci-vm-tcg": ["query-platforms", "--accel", "tcg", "--host", H("vm-debian12-6.18-pvm")],
    "qemu-q35-kvm-keeps-smm-refused-without-it": ["qemu", "--dry-run", "--host", H("vm-debian12-6.18-pvm"),
                                                  "-platform", "linux-6.9", "-accel", "kvm", *Q35_NET],
    # query-platforms against simulated and captured hosts
    "query-platforms-el9": ["query-platforms", "--host", H("el9-5.14")],
    "query-platforms-el8": ["query-platforms", "--host", H("el8-4.18")],
    "query-platforms-ubuntu2404": ["query-platforms", "--host", H("ubuntu2404-6.8")],
    "query-platforms-debian12": ["query-platforms", "--host", H("debian12-6.1")],
    "query-platforms-ci-vm": ["query-platforms", "--host", H("vm-debian12-6.18-pvm")],
    "query-platforms-json-el9": ["query-platforms", "--host", H("el9-5.14"), "--json"],
    "query-platforms-missing-report": ["query-platforms", "--host", "/nonexistent/report.json"],
    "query-platforms-bad-platform-dir": ["query-platforms", "--host", H("el9-5.14"), "--platform-dir",
                                         "/nonexistent/platforms.d"],
    # resolution
    "resolve-q35-10.0-linux-6.2-ubuntu": ["resolve", "-M", "pc-q35-10.0", "-P", "linux-6.2", "--host",
                                          H("ubuntu2404-6.8")],
    "resolve-q35-8.1-linux-6.2-keeps-uso-off": ["resolve", "-M", "pc-q35-8.1", "-P", "linux-6.2", "--host",
                                                H("ubuntu2404-6.8")],
    "resolve-uso-on-el9-refused": ["resolve", "-M", "pc-q35-10.0", "-P", "linux-6.2", "--host", H("el9-5.14")],
    "resolve-user-global-on-el9-refused": ["resolve", "-M", "pc-q35-10.0", "-P", "linux-rhel-9.5", "--global",
                                           "virtio-net-device.host_uso=on", "--host", H("el9-5.14")],
    "resolve-default-platform-el9": ["resolve", "-M", "q35", "--host", H("el9-5.14"), "--format", "qemu-args"],
    "resolve-json-vhost-kvm": ["resolve", "-M", "pc-q35-10.0", "-P", "linux-6.12", "--backend", "tap-vhost",
                               "--accel", "kvm", "--host", H("debian13-6.12"), "--format", "json"],
    "resolve-unknown-machine": ["resolve", "-M", "pc-q35-99.0", "-P", "linux-6.2", "--host", H("el9-5.14")],
    "resolve-bad-global": ["resolve", "-M", "pc-q35-10.0", "--global", "host_uso=on", "--host", H("el9-5.14")],
    # export for plain QEMU / libvirt
    "export-linux-6.1-readconfig-kvm": ["export", "linux-6.1", "-M", "pc-q35-10.0", "--host", H("debian12-6.1")],
    "export-linux-6.2-on-el9-refused": ["export", "linux-6.2", "--host", H("el9-5.14")],
    # the QEMU front-end (dry run: print the argv that would be exec'd)
    "qemu-platform-help-el9": ["qemu", "--host", H("el9-5.14"), "-platform", "help"],
    "qemu-default-platform-ubuntu": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), *Q35_NET],
    "qemu-linux-6.2-on-el9-refused": ["qemu", "--dry-run", "--host", H("el9-5.14"), "-platform", "linux-6.2",
                                      *Q35_NET],
    "qemu-rhel-9.5-on-ubuntu": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform",
                                "linux-rhel-9.5", *Q35_NET, "-S", "-display", "none"],
    "qemu-two-nics-user-and-tap": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform", "linux-6.8",
                                   "-M", "q35", "-netdev", "user,id=u0", "-device",
                                   "virtio-net-pci,netdev=u0,id=nicu", *Q35_NET[2:]],
    "qemu-explicit-device-props-kept": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform",
                                        "linux-6.1", "-machine", "pc-q35-10.0",
                                        "-netdev", "tap,id=n0,script=no,downscript=no", "-device",
                                        "virtio-net-pci,netdev=n0,id=net0,host_uso=on,guest_uso4=on,guest_uso6=on"],
    "qemu-global-uso-on-el9-refused": ["qemu", "--dry-run", "--host", H("el9-5.14"), "-platform",
                                       "linux-rhel-9.5", "-global", "virtio-net-device.guest_uso4=on", *Q35_NET],
    "qemu-old-machine-8.1": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform", "linux-6.8",
                             "-machine", "pc-q35-8.1,accel=tcg", *Q35_NET[2:]],
    "qemu-vhost-kvm-json-device": ["qemu", "--dry-run", "--host", H("debian13-6.12"), "-platform", "linux-6.12",
                                   "-accel", "kvm", "-machine", "pc-q35-10.0", "-netdev",
                                   "tap,id=n0,vhost=on,script=no,downscript=no", "-device",
                                   '{"driver":"virtio-net-pci","netdev":"n0","id":"net0"}'],
    "qemu-vnet-hdr-off": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform", "linux-6.8",
                          "-machine", "pc-q35-10.0", "-netdev", "tap,id=n0,vnet_hdr=off,script=no,downscript=no",
                          "-device", "virtio-net-pci,netdev=n0"],
    "qemu-readconfig-missing-file": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-readconfig",
                                     "vm.cfg"],
    # every road a NIC takes into QEMU is read into the one VM model and pinned
    "qemu-readconfig-own-export": ["qemu", "--dry-run", "--host", H("debian12-6.1"), "-readconfig",
                                   str(READCONFIG / "export-linux-6.1.cfg"), *Q35_NET],
    "qemu-readconfig-own-export-on-el9-refused": ["qemu", "--dry-run", "--host", H("el9-5.14"), "-readconfig",
                                                  str(READCONFIG / "export-linux-6.2.cfg"), *Q35_NET],
    "qemu-readconfig-devices": ["qemu", "--dry-run", "--host", H("el9-5.14"), "-platform", "linux-rhel-9.5",
                                "-readconfig", str(READCONFIG / "nic-and-chardev.cfg")],
    "qemu-readconfig-unknown-section": ["qemu", "--dry-run", "--host", H("el9-5.14"), "-readconfig",
                                        str(READCONFIG / "unknown-section.cfg"), *Q35_NET],
    "qemu-json-netdev-libvirt": ["qemu", "--dry-run", "--host", H("debian12-6.1"), "-platform", "linux-6.1",
                                 "-machine", "pc-q35-10.0,usb=off,smm=on", "-accel", "kvm", "-netdev",
                                 '{"type":"tap","fd":"33","vhost":true,"vhostfd":"35","id":"hostnet0"}',
                                 "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0",'
                                 '"mac":"52:54:00:e5:48:58","bus":"pci.1","addr":"0x0"}'],
    "qemu-json-netdev-bad-json": ["qemu", "--dry-run", "--host", H("debian12-6.1"), "-netdev",
                                  '{"type":"tap","id":"hostnet0",', "-device", "virtio-net-pci,netdev=hostnet0"],
    "qemu-nic-virtio-tap": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform", "linux-6.8",
                            "-machine", "pc-q35-10.0", "-nic",
                            "tap,model=virtio-net-pci,script=no,downscript=no,mac=52:54:00:12:34:56"],
    "qemu-nic-virtio-short-name-on-el9-6.2-refused": ["qemu", "--dry-run", "--host", H("el9-5.14"), "-platform",
                                                      "linux-6.2", "-machine", "pc-q35-10.0", "-nic",
                                                      "tap,id=t0,model=virtio,script=no,downscript=no"],
    "qemu-nic-e1000-untouched": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform", "linux-6.8",
                                 "-machine", "pc-q35-10.0", "-nic", "user,model=e1000"],
    "qemu-net-legacy-hub": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform", "linux-6.8",
                            "-machine", "pc-q35-10.0", "-net", "nic,model=virtio,macaddr=52:54:00:12:34:57",
                            "-net", "tap,script=no,downscript=no"],
    "qemu-net-legacy-netdev": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform", "linux-6.8",
                               "-machine", "pc-q35-10.0", "-netdev", "tap,id=n0,script=no,downscript=no",
                               "-net", "nic,model=virtio-net-pci,netdev=n0"],
    "qemu-alias-virtio-net": ["qemu", "--dry-run", "--host", H("el9-5.14"), "-platform", "linux-rhel-9.5",
                              "-machine", "pc-q35-10.0", "-netdev", "tap,id=n0,script=no,downscript=no",
                              "-device", "virtio-net,netdev=n0,id=net0"],
    "qemu-alias-virtio-net-uso-on-el9-refused": ["qemu", "--dry-run", "--host", H("el9-5.14"), "-platform",
                                                 "linux-rhel-9.5", "-machine", "pc-q35-10.0", "-netdev",
                                                 "tap,id=n0,script=no,downscript=no", "-device",
                                                 "virtio-net,netdev=n0,host_uso=on"],
    "qemu-transitional-nic": ["qemu", "--dry-run", "--host", H("el9-5.14"), "-platform", "linux-rhel-9.5",
                              "-machine", "pc-q35-10.0", "-netdev", "tap,id=n0,script=no,downscript=no",
                              "-device", "virtio-net-pci-transitional,netdev=n0"],
    "qemu-set-device-uso-on-el9-refused": ["qemu", "--dry-run", "--host", H("el9-5.14"), "-platform",
                                           "linux-rhel-9.5", *Q35_NET, "-set", "device.net0.host_uso=on"],
    "qemu-vhost-on-without-vhost-net-refused": ["qemu", "--dry-run", "--host", H("vm-debian12-6.18-pvm"),
                                                "-platform", "linux-6.1", "-accel", "kvm", "-machine",
                                                "pc-q35-10.0,smm=off", "-netdev",
                                                "tap,id=n0,vhost=on,script=no,downscript=no",
                                                "-device", "virtio-net-pci,netdev=n0"],
    "qemu-unknown-platform": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform", "linux-rhel-9.9",
                              *Q35_NET],
    "qemu-undefined-netdev": ["qemu", "--dry-run", "--host", H("ubuntu2404-6.8"), "-platform", "linux-6.8",
                              "-device", "virtio-net-pci,netdev=nope"],
}

# Manifests, verdicts, merge, compare, baseline, libvirt. Manifests: tests/data/manifests (make_manifests.py).
MANIFESTS, DOMAINS = HOSTS.parent / "manifests", HOSTS.parent / "domains"
# Verdicts of every corpus manifest on every corpus host: a hand-checked table, tests/resolution/verdict_matrix.toml.
CASES["check-json-ubuntu2404-vm-on-el9"] = ["check", "--json", "--manifest",
                                            str(MANIFESTS / "ubuntu2404-6.8-default.json"), "--host", H("el9-5.14")]
CASES["merge-el9-ubuntu2404"] = ["merge", H("el9-5.14"), H("ubuntu2404-6.8")]
CASES["merge-corpus-dir-named"] = ["merge", "--name", "fleet-2026", str(HOSTS)]
CASES["compare-el9-ubuntu2404"] = ["compare", H("el9-5.14"), H("ubuntu2404-6.8")]
CASES["compare-ci-vm-debian13"] = ["compare", H("vm-debian12-6.18-pvm"), H("debian13-6.12")]
CASES["compare-json-debian12-debian13"] = ["compare", "--json", H("debian12-6.1"), H("debian13-6.12")]
CASES["baseline-corpus"] = ["baseline", str(HOSTS)]
CASES["baseline-json-el9-ubuntu2404"] = ["baseline", "--json", H("el9-5.14"), H("ubuntu2404-6.8")]
CASES["analyze-scope-hosts-el9-ubuntu2404"] = ["analyze", "--host", H("ubuntu2404-6.8"), "--scope", "hosts",
                                               "--hosts", H("el9-5.14"), H("ubuntu2404-6.8"), "--", *Q35_NET]
CASES["analyze-scope-anywhere-corpus-dir"] = ["analyze", "--host", H("debian13-6.12"), "--scope", "anywhere",
                                              "--hosts", str(HOSTS), "--", *Q35_NET]
NET_DEFAULT = str(HOSTS.parent / "networks" / "default.xml")
CASES["analyze-domain-xml-web1"] = ["analyze", "--host", H("ubuntu2404-6.8"), "--network-xml", NET_DEFAULT,
                                    "--domain-xml", str(DOMAINS / "web1-kvm.xml")]
CASES["libvirt-pin-web1"] = ["libvirt", "pin", "--host", H("ubuntu2404-6.8"), "--network-xml", NET_DEFAULT,
                             "--domain-xml", str(DOMAINS / "web1-kvm.xml")]
CASES["libvirt-pin-tiny-linux-6.1"] = ["libvirt", "pin", "--host", H("ubuntu2404-6.8"), "--platform", "linux-6.1",
                                       "--domain-xml", str(DOMAINS / "tiny-tcg.xml")]


def _normalise(text: str) -> str:
    return text.replace(str(DATA_DIR), "<data>").replace(str(REPO), "<repo>")


def _render(argv: list[str]) -> str:
    rc, out, err = run_cli(argv)
    shown = " ".join(_normalise(a) for a in argv)
    return _normalise(f"$ vmplatform {shown}\nexit: {rc}\n--- stdout\n{out}--- stderr\n{err}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_golden(name: str) -> None:
    got = _render(CASES[name])
    path = CASES_DIR / f"{name}.txt"
    if REGEN:
        path.write_text(got)
        return
    if not path.exists():
        pytest.fail(f"no golden file {path.relative_to(REPO)}; create it with VMPLATFORM_REGEN_GOLDEN=1 "
                    "and review it")
    want = path.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            f"golden/{name}.txt", "actual"))
        pytest.fail(f"CLI output changed for {name}:\n{diff}")


def test_every_golden_file_has_a_case() -> None:
    stale = sorted(p.stem for p in CASES_DIR.glob("*.txt") if p.stem not in CASES)
    assert not stale, f"golden files without a case (delete them): {stale}"
