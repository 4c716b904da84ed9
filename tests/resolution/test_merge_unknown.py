"""Merges over real reports with ``unknown`` features.

A merged platform promises only what every host *confirmed*: ``unknown``
(the probe could not tell, e.g. an unprivileged probe cannot open /dev/kvm)
is not ``supported``. The reports are real probes of one machine as root
and as ``nobody`` (tests/data/probed/README.md).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli
from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import FeatureStatus, HostReport, loads
from vmplatform.probe.fake import FakeHost
from vmplatform.resolution.merge import common_features, merged_platform

CATALOG = default_catalog()
PLATFORMS = load_platforms(env={}, system=None)
PROBED = Path(__file__).parent.parent / "data" / "probed"
ROOT = PROBED / "debian12-6.18-pvm-root.json"
NOBODY = PROBED / "debian12-6.18-pvm-unprivileged.json"


def real(path: Path) -> HostReport:
    return loads(path.read_text(), str(path))


# What the two probes said (read off the files by hand, see their evidence):
# root: TAP offloads incl. USO and UDP-tunnel GSO, multiqueue, eBPF steering and RSS, 4 KiB pages,
#       THP; no /dev/vhost-net or /dev/vhost-vsock (so neither kernel vhost feature is visible),
#       no KVM SMM / Hyper-V / TSC scaling (PVM).
# nobody: the same TAP answers (user namespace), eBPF RSS refused, KVM capabilities unknown.
COMMON = {"tap-vnet-hdr", "tap-ufo", "tap-uso", "tap-udp-tunnel-gso", "tun-multiqueue", "tun-steering-ebpf",
          "host-page-size-4k", "thp-pmd-2m"}


def test_the_unprivileged_report_really_has_unknowns() -> None:
    nobody = real(NOBODY)
    assert {r.feature for r in nobody if r.status is FeatureStatus.UNKNOWN} == {
        "kvm-smm", "kvm-hyperv-cpuid", "kvm-tsc-control"}


def test_merge_of_root_and_unprivileged_probe() -> None:
    assert common_features([real(ROOT), real(NOBODY)], PLATFORMS) == COMMON
    assert common_features([real(ROOT)], PLATFORMS) == COMMON | {"ebpf-rss"}


def test_unknown_is_never_common() -> None:
    """A host that confirmed USO and one whose probe could not tell: no promise of USO
    (synthetic pair: no real probe leaves TAP USO unknown while confirming the vnet header)."""
    sure = FakeHost(hostname="a", supported=frozenset({"tap-vnet-hdr", "tap-uso", "kvm-smm"})).run(CATALOG)
    unsure = FakeHost(hostname="b", supported=frozenset({"tap-vnet-hdr"}),
                      unknown={"tap-uso": "TUNSETOFFLOAD: EPERM", "kvm-smm": "EACCES"}).run(CATALOG)
    merged = merged_platform([sure, unsure], PLATFORMS)
    assert merged.features == frozenset({"tap-vnet-hdr"})
    assert merged.feature_sources == {"tap-vnet-hdr": "supported on all of: a, b"}


def test_cli_merge_of_the_real_reports(tmp_path: Path) -> None:
    out = tmp_path / "m.toml"
    rc, stdout, stderr = run_cli(["merge", str(ROOT), str(NOBODY), "--name", "merge-vm", "-o", str(out)])
    assert (rc, stdout) == (0, "")
    assert stderr == f"wrote platform merge-vm ({len(COMMON)} features common to 2 hosts) to {out}\n"
    add = next(line for line in out.read_text().splitlines() if line.startswith("add = "))
    assert add == "add = [" + ", ".join(f'"{f}"' for f in sorted(COMMON)) + "]"


STATUS = st.sampled_from([FeatureStatus.SUPPORTED, FeatureStatus.UNSUPPORTED, FeatureStatus.UNKNOWN])
# Features with no requirement of their own, so closure under requirements plays no part here.
FREE = sorted(f.id for f in CATALOG if not f.requires)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(FREE), STATUS), min_size=1, max_size=4))
def test_common_is_the_intersection_of_confirmed_features(hosts: list[dict[str, FeatureStatus]]) -> None:
    reports = [FakeHost(hostname=f"h{i}", supported=frozenset(f for f, s in h.items() if s is FeatureStatus.SUPPORTED),
                        unknown={f: "could not tell" for f, s in h.items() if s is FeatureStatus.UNKNOWN}
                        ).run(CATALOG) for i, h in enumerate(hosts)]
    expected = set(FREE)
    for h in hosts:
        expected &= {f for f, s in h.items() if s is FeatureStatus.SUPPORTED}
    assert common_features(reports, PLATFORMS) == expected
