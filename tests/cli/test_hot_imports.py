"""What the hot commands import: the start-up budget held by a test.

The commands on the path of every VM start (the probe, query-platforms, the
QEMU front-end until it execs QEMU, the libvirt hook) run in a fresh
interpreter here, exactly as a user or libvirt starts them; the modules they
loaded are read at the moment they would exec or exit. Each heavy module
named below costs milliseconds per VM start and has no business there; a
change that pulls one in fails this test, whatever the timing on the day.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.requirements import missing_qemu, missing_root, missing_tun, skip_unless

# every hot command runs once against this host (the probe as root) and the installed QEMU first (warm)
pytestmark = [pytest.mark.root, pytest.mark.qemu]

DATA = Path(__file__).parents[1] / "data"

# Stops the command where it would exec QEMU or exit, and prints what it imported.
_DRIVER = r"""
import os, sys
def _report(*_a, **_k):
    names = sorted(sys.modules)  # before this driver imports anything itself
    sys.stderr.flush()
    os.write(int(os.environ["MODULES_FD"]), "\n".join(names).encode())
    os._exit(0)
os.execv = os.execvp = _report
entry = sys.argv[1]
if entry == "hook":
    from vmplatform.libvirt.hook import main
else:
    from vmplatform.cli import main
main(sys.argv[2:])
_report()
"""

# Never on any hot path: event loops, process spawning, the QMP client, network
# stacks, the fleet layer's libraries, logging, TOML parsing (packaged data is
# read precompiled), dataclasses and the inspect it brings (the model's classes are
# vmplatform.records), and argparse (the hot commands parse their few options
# themselves; argparse with gettext costs about 6 ms).
NEVER = ("asyncio", "subprocess", "qemu", "socket", "ssl", "http", "email", "logging", "tempfile",
         "difflib", "tomllib", "sqlalchemy", "alembic", "starlette", "uvicorn", "jinja2", "tqdm", "psycopg",
         "dataclasses", "inspect")
NO_ARGPARSE = ("argparse", "gettext")
NO_XML = ("xml",)


def imported(entry: str, argv: list[str], stdin: bytes = b"", env: dict[str, str] | None = None) -> set[str]:
    r, w = os.pipe()
    try:
        proc = subprocess.run([sys.executable, "-c", _DRIVER, entry, *argv], input=stdin, capture_output=True,
                              pass_fds=(w,), env={**os.environ, **(env or {}), "MODULES_FD": str(w)},
                              timeout=60)
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    assert data, f"{entry} {argv} printed no module list; stderr: {proc.stderr.decode(errors='replace')}"
    names = data.decode().split("\n")
    return {name.split(".")[0] for name in names} | set(names)


def assert_none(modules: set[str], forbidden: tuple[str, ...], what: str) -> None:
    found = sorted(m for m in forbidden if m in modules)
    assert not found, f"{what} imports {found}: import them inside the command that needs them"


@pytest.fixture(scope="module")
def warm() -> None:
    """Run every hot command once: caches (probe per boot, packaged data) are filled as on a live host."""
    skip_unless(missing_root, missing_tun, missing_qemu)
    imported("cli", ["probe", "--json"])
    # the front-end reads the machine catalog of the QEMU it runs: imported once per binary, then cached
    imported("cli", ["qemu", "--qemu-binary", _qemu(), "-machine", "q35"])


def _qemu() -> str:
    from vmplatform.qemu.binary import find_qemu

    return find_qemu()


PROBE_CASES = {
    "probe --json": ["probe", "--json"],
    "query-platforms": ["query-platforms"],
    "query-platforms --json": ["query-platforms", "--json"],
}


@pytest.mark.parametrize("name", PROBE_CASES)
def test_probe_and_query_platforms(warm: None, name: str) -> None:
    modules = imported("cli", PROBE_CASES[name])
    assert_none(modules, NEVER + NO_XML, f"vmplatform {name}")
    if name.startswith("probe"):
        assert_none(modules, NO_ARGPARSE, f"vmplatform {name}")


@pytest.mark.parametrize("argv", [
    ["-machine", "q35", "-platform", "linux-6.1", "-netdev", "tap,id=n0", "-device", "virtio-net-pci,netdev=n0"],
    ["-machine", "q35", "-netdev", '{"type":"tap","id":"n0"}', "-device", '{"driver":"virtio-net-pci","netdev":"n0"}'],
])
def test_qemu_front_end_until_exec(warm: None, argv: list[str]) -> None:
    modules = imported("cli", ["qemu", "--qemu-binary", _qemu(), *argv])
    assert "vmplatform.qemu.frontend" in modules, "the front-end did not run"
    assert_none(modules, NEVER + NO_ARGPARSE + NO_XML, "vmplatform qemu (until exec)")


def test_hook_pass_through_loads_nothing_of_vmplatform_but_the_hook() -> None:
    xml = (DATA / "domains/web1-kvm.xml").read_bytes()
    modules = imported("hook", ["web1", "stopped", "end", "-"], xml)
    ours = sorted(m for m in modules if m.startswith("vmplatform."))
    assert ours == ["vmplatform.libvirt", "vmplatform.libvirt.hook", "vmplatform.libvirt.namespace"]
    assert_none(modules, NEVER + NO_ARGPARSE + NO_XML + ("typing", "json", "pathlib", "re"),
                "the hook on a pass-through event")


# What the decision on a guarded operation never needs: the manifest names its features and the
# packaged platforms are read compiled, so neither the resolution machinery (domain model, argv
# parser, resolver, machine types), the probe (the per-boot cache answers), nor the platform
# derivation runs. Only a domain the host can run is resolved, to compare its XML with its pins.
RESOLUTION = ("vmplatform.resolution.resolve", "vmplatform.qemu.argv", "vmplatform.model.vm",
              "vmplatform.model.machines", "vmplatform.resolution.support", "vmplatform.libvirt.domain",
              "vmplatform.libvirt.drift", "vmplatform.libvirt.network")
DERIVATION = ("vmplatform.model.releases", "tomllib")
# The manifest is read from the domain XML in one pass: no document is built until the domain is resolved.
DOCUMENT = ("xml.dom.minidom", "xml.dom.expatbuilder")
PROBE = ("vmplatform.probe.linux", "vmplatform.probe.bpf", "ctypes")


def _pinned_domain() -> bytes:
    from vmplatform.libvirt.metadata import with_manifest
    from vmplatform.resolution.manifest import loads

    manifest = loads((DATA / "manifests/debian13-6.12-default.json").read_text())
    return with_manifest((DATA / "domains/tiny-tcg.xml").read_text(), manifest, "tiny-tcg.xml").encode()


@pytest.mark.parametrize("operation", [["prepare", "begin"], ["start", "begin"], ["migrate", "begin"]])
def test_hook_refusing_a_guarded_operation(operation: list[str]) -> None:
    env = {"VMPLATFORM_HOST_REPORT": str(DATA / "hosts/debian12-6.1.json")}  # lacks what the manifest needs
    modules = imported("hook", ["vmp-tiny", *operation, "-"], _pinned_domain(), env)
    assert "vmplatform.resolution.verdict" in modules, "the hook did not judge the domain"
    assert_none(modules, NEVER + NO_ARGPARSE + RESOLUTION + DERIVATION + PROBE + DOCUMENT,
                f"the hook refusing {operation}")


def test_hook_from_the_probe_cache(warm: None) -> None:
    """Without a report file the hook reads the per-boot cache that 'vmplatform probe' wrote."""
    modules = imported("hook", ["vmp-tiny", "prepare", "begin", "-"], _pinned_domain())
    assert "vmplatform.probe.cache" in modules and "vmplatform.resolution.verdict" in modules
    assert_none(modules, NEVER + NO_ARGPARSE + DERIVATION + PROBE + DOCUMENT,
                "the hook on prepare begin (cached probe)")


def test_hook_admitting_a_guarded_operation() -> None:
    env = {"VMPLATFORM_HOST_REPORT": str(DATA / "hosts/debian13-6.12.json")}
    modules = imported("hook", ["vmp-tiny", "prepare", "begin", "-"], _pinned_domain(), env)
    assert "vmplatform.libvirt.drift" in modules, "the hook did not compare the domain with its pins"
    assert_none(modules, NEVER + NO_ARGPARSE + PROBE, "the hook admitting prepare begin")
