"""libvirt's own test cases: its domain XML and the QEMU argv libvirt generates for it agree here.

tests/data/libvirt-corpus/ holds files of libvirt's tests/qemuxmlconfdata
(``NAME.xml``, or libvirt's formatted ``NAME.x86_64-latest.xml`` where the
index had no ``NAME.xml``, next to ``NAME.x86_64-latest.args``), each with its
repository path and commit in MANIFEST.tsv. For every case both roads are
analysed on the same host report with the same default platform:

* the XML road: libvirt/domain.py reads the domain as libvirt's QEMU driver
  would and builds its argv;
* the argv road: the argv libvirt really generated, in libvirt's JSON syntax,
  read by qemu_argv.py into the VM model;

and must agree on machine type, accelerator, required features and pins,
on each of three captured hosts (one without /dev/vhost-net); neither may fail
with anything but a vmplatform error (no traceback).

libvirt's test mock of ``qemuInterfaceOpenVhostNet`` (tests/qemuxml2argvmock.c)
hands a vhost fd to every virtio NIC, TCG domains included, and whether or not
the host has /dev/vhost-net; the real function (src/qemu/qemu_interface.c)
opens none for a plain QEMU (TCG) guest, nor on a host without the device. So
for a ``<domain type='qemu'>``, and on a host without vhost-net, the argv road
drops ``vhost``/``vhostfd`` from the -netdev, as real libvirt would never have
written them.

libvirt's tests name networks of libvirt's test network driver
(``nat-network;plug-network-basic``: a NAT network whose interfaces libvirt
plugs into a bridge); the argv libvirt generated for them is a TAP fd
(``"type":"tap","fd":...``), so the XML road is given a NAT network of that
name (:data:`TEST_NETWORKS`), as ``virsh net-dumpxml`` would show it.

Where the XML road does not yet read a device libvirt turns into a governed
QEMU device, the case is listed in KNOWN_DISAGREEMENTS with the reason; for
those the test only holds that neither road fails.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from xml.sax.saxutils import escape

import pytest

from vmplatform.errors import HostLacksFeatures, VmplatformError
from vmplatform.libvirt.domain import qemu_argv, read_domain
from vmplatform.libvirt.network import Networks, read_network
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import FeatureStatus, HostReport, loads
from vmplatform.qemu.analysis import analyze
from vmplatform.resolution.manifest import Manifest

CORPUS = Path(__file__).parent.parent / "data" / "libvirt-corpus"
HOSTS = Path(__file__).parent.parent / "data" / "hosts"
HOST_NAMES = ("debian13-6.12", "el9-5.14", "vm-debian12-6.18-pvm")   # the last has no /dev/vhost-net

# libvirt's test networks (name -> <forward mode>), as the XML road needs their definition (see the
# module docstring): the argv libvirt generated shows a TAP for the NAT ones and a vfio-pci device for
# the hostdev one.
TEST_NETWORKS = {"nat-network;plug-network-basic": "nat", "nat-network;plug-bridge-basic": "nat",
                 "hostdev;plug-hostdev-pci": "hostdev"}


def _networks() -> Networks:
    nets = {}
    for name, mode in TEST_NETWORKS.items():
        bridge = "<bridge name='virbr0'/>" if mode != "hostdev" else ""
        text = f"<network><name>{escape(name)}</name><forward mode='{mode}'/>{bridge}</network>"
        nets[name] = read_network(text, "libvirt test network")
    return Networks(MappingProxyType(nets))


# Cases where the two roads still disagree, each with the XML-side reason (libvirt/domain.py).
KNOWN_DISAGREEMENTS: dict[str, str] = {
}


def cases() -> list[str]:
    names = sorted(p.name.removesuffix(".x86_64-latest.args") for p in CORPUS.glob("*.x86_64-latest.args"))
    return [n for n in names if _xml_file(n) is not None]


def _xml_file(name: str) -> Path | None:
    for cand in (CORPUS / f"{name}.xml", CORPUS / f"{name}.x86_64-latest.xml"):
        if cand.is_file():
            return cand
    return None


def libvirt_argv(text: str) -> list[str]:
    """The QEMU arguments of a libvirt .args file (environment and binary dropped)."""
    words = shlex.split(text.replace("\\\n", " "))
    i = next(i for i, w in enumerate(words) if w.startswith("/") and "qemu-system" in w)
    return words[i + 1:]


def drop_mocked_vhost(argv: list[str]) -> list[str]:
    """Undo the test mock's vhost fd for a TCG domain (see the module docstring)."""
    out = list(argv)
    for i, a in enumerate(out[:-1]):
        if a == "-netdev" and out[i + 1].startswith("{"):
            nd = json.loads(out[i + 1])
            for key in ("vhost", "vhostfd", "vhostfds"):
                nd.pop(key, None)
            out[i + 1] = json.dumps(nd, separators=(",", ":"))
    return out


@dataclass(frozen=True)
class View:
    """What the two roads must agree on."""

    machine: str
    accel: str
    requires: tuple[str, ...]
    pins: tuple[tuple[str, str, str, str], ...]

    @classmethod
    def of(cls, m: Manifest) -> View:
        return cls(m.machine, m.accel, tuple(sorted(m.requires)),
                   tuple(sorted((p.device, p.device_type, p.prop, p.value) for p in m.pins)))


def _report(host: str) -> HostReport:
    path = HOSTS / f"{host}.json"
    return loads(path.read_text(), str(path))


def _refusal(err: VmplatformError) -> str:
    """A refusal as both roads must agree on it: which features, not which words."""
    if isinstance(err, HostLacksFeatures):
        return "refused: host lacks " + ", ".join(sorted(m.feature for m in err.missing))
    return f"refused: {type(err).__name__}: {err.message}"


def _roads(name: str, host: str = HOST_NAMES[0]) -> tuple[View | str, View | str]:
    mc, platforms, report = default_machine_catalog(), load_platforms(), _report(host)
    xml_file = _xml_file(name)
    assert xml_file is not None

    def run(argv: list[str]) -> View | str:
        try:
            return View.of(analyze(argv, mc=mc, platforms=platforms, report=report)[1])
        except VmplatformError as err:
            return _refusal(err)

    try:
        domain, _ = read_domain(xml_file.read_text(), str(xml_file),
                                vhost_available=report.status("vhost-net") is FeatureStatus.SUPPORTED,
                                networks=_networks())
        from_xml = run(qemu_argv(domain))
    except VmplatformError as err:
        from_xml = _refusal(err)
    argv = libvirt_argv((CORPUS / f"{name}.x86_64-latest.args").read_text())
    tcg = "-accel" in argv and argv[argv.index("-accel") + 1] == "tcg"
    if tcg or report.status("vhost-net") is not FeatureStatus.SUPPORTED:
        argv = drop_mocked_vhost(argv)
    return from_xml, run(argv)


def test_the_corpus_is_there_and_recorded() -> None:
    manifest = [line.split("\t") for line in (CORPUS / "MANIFEST.tsv").read_text().splitlines()
                if line and not line.startswith("#")]
    recorded = {row[0] for row in manifest}
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "MANIFEST.tsv"}
    assert recorded == on_disk
    for file, repo, path, commit in manifest:
        assert repo == "libvirt/libvirt" and path == f"tests/qemuxmlconfdata/{file}" and len(commit) == 40
    assert len(cases()) >= 75


@pytest.mark.parametrize("host", HOST_NAMES)
@pytest.mark.parametrize("name", cases())
def test_xml_and_argv_roads_agree(name: str, host: str) -> None:
    from_xml, from_argv = _roads(name, host)   # a non-vmplatform exception fails here
    if name in KNOWN_DISAGREEMENTS:
        return
    assert from_xml == from_argv


def test_the_mock_vhost_matters() -> None:
    """Control: without undoing the mock, a TCG domain with a TAP NIC does not agree."""
    global drop_mocked_vhost
    keep = drop_mocked_vhost
    drop_mocked_vhost = lambda argv: argv  # noqa: E731
    try:
        from_xml, from_argv = _roads("net-coalesce")
    finally:
        drop_mocked_vhost = keep
    assert from_xml != from_argv


def agreement() -> tuple[int, int, list[str]]:
    """(agreeing, total, report lines) over every case and host."""
    ok, total, lines = 0, 0, []
    for n in cases():
        for h in HOST_NAMES:
            a, b = _roads(n, h)
            total += 1
            if a == b:
                ok += 1
            else:
                lines.append(f"DISAGREE {n} on {h}:\n  xml:  {a}\n  argv: {b}")
    return ok, total, lines


if __name__ == "__main__":  # .venv/bin/python -m tests.corpus.test_libvirt_corpus
    ok, total, lines = agreement()
    print("\n".join(lines))
    print(f"libvirt corpus: {len(cases())} cases x {len(HOST_NAMES)} hosts = {total} comparisons, {ok} agree "
          f"({100 * ok / max(total, 1):.0f}%)")
