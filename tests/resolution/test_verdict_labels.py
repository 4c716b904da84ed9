"""Verdict labels against QEMU's own definition of them.

Source: QEMU qapi/machine-target.json, enum ``CpuModelCompareResult`` (the
shape of ``query-cpu-model-comparison``), with model A = the host and
model B = what the VM relies on:

* ``identical``: A and B are the same (here: among the features that matter
  to the VM, the host has exactly what the VM relies on);
* ``superset``: B is guaranteed to run where A runs, and A has more;
* ``subset``: A lacks something of B and has nothing B lacks;
* ``incompatible``: neither contains the other. vmplatform also answers
  ``incompatible`` when something other than a feature is wrong (a machine
  type that changed, a domain that lost its pins): docs/manifest.md.

The hosts here are synthetic (FakeHost) because each row needs one exact
shape (lacks one feature *and* has another); the real probe reports under
tests/data/probed are used where a real host has the shape.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import FeatureStatus, HostReport, loads
from vmplatform.probe.fake import FakeHost
from vmplatform.resolution.verdict import Result, judge

CATALOG = default_catalog()
PLATFORMS = load_platforms(env={}, system=None)
PROBED = Path(__file__).parent.parent / "data" / "probed"

# What a virtio-net NIC on TAP under KVM consults (features.toml "governs"):
# vnet header, UFO, USO, SMM (x86-machine.smm under accel=kvm).
RELEVANT = ("kvm-smm", "tap-ufo", "tap-uso", "tap-vnet-hdr")
NEEDS = {"tap-vnet-hdr": "virtio-net-pci net0 csum=on", "tap-ufo": "virtio-net-pci net0 host_ufo=on",
         "tap-uso": "virtio-net-pci net0 host_uso=on", "kvm-smm": "machine smm=on"}
DRIFT = "machine type pc-q35-10.0 of QEMU 10.0.2 now turns virtio-net-device.host_uso off"


def host(supported: set[str], unknown: dict[str, str] | None = None) -> HostReport:
    return FakeHost(hostname="target", supported=frozenset(supported), unknown=unknown or {}).run(CATALOG)


# (what the VM relies on, what the host supports, non-feature problems) -> label, responsible features.
TABLE = [
    # The host has exactly the VM's features.
    ({"tap-vnet-hdr", "tap-uso"}, {"tap-vnet-hdr", "tap-uso"}, [], Result.IDENTICAL, ()),
    # Features the VM does not consult (vhost-vsock, thp) do not make a superset.
    ({"tap-vnet-hdr", "tap-uso"}, {"tap-vnet-hdr", "tap-uso", "vhost-vsock", "thp-pmd-2m"}, [],
     Result.IDENTICAL, ()),
    # A relevant feature more than the VM relies on.
    ({"tap-vnet-hdr"}, {"tap-vnet-hdr", "tap-ufo"}, [], Result.SUPERSET, ("tap-ufo",)),
    # Lacks one, has nothing else.
    ({"tap-vnet-hdr", "tap-uso"}, {"tap-vnet-hdr"}, [], Result.SUBSET, ("tap-uso",)),
    ({"tap-vnet-hdr", "tap-uso"}, set(), [], Result.SUBSET, ("tap-uso", "tap-vnet-hdr")),
    # Lacks one and has another the VM does not use: neither contains the other.
    ({"tap-vnet-hdr", "tap-uso"}, {"tap-vnet-hdr", "tap-ufo"}, [], Result.INCOMPATIBLE, ("tap-uso",)),
    # Every feature, but the machine type changed under the VM.
    ({"tap-vnet-hdr", "tap-uso"}, {"tap-vnet-hdr", "tap-uso"}, [DRIFT], Result.INCOMPATIBLE, ()),
    ({"tap-vnet-hdr"}, {"tap-vnet-hdr", "tap-ufo"}, [DRIFT], Result.INCOMPATIBLE, ()),
    # Lacks a feature AND has a non-feature problem: never 'subset' (that would say
    # "only features are missing; a newer kernel fixes it").
    ({"tap-vnet-hdr", "tap-uso"}, {"tap-vnet-hdr"}, [DRIFT], Result.INCOMPATIBLE, ("tap-uso",)),
]


@pytest.mark.parametrize("required,supported,problems,label,responsible", TABLE)
def test_verdict_label(required: set[str], supported: set[str], problems: list[str], label: Result,
                       responsible: tuple[str, ...]) -> None:
    v = judge({f: NEEDS[f] for f in required}, RELEVANT, host(supported), PLATFORMS, problems)
    assert v.result is label, v.message
    assert v.responsible == responsible
    assert v.problems == tuple(problems)
    assert v.result.ok is (label in (Result.IDENTICAL, Result.SUPERSET))


def test_messages_name_the_feature_the_release_and_the_problem() -> None:
    v = judge({"tap-vnet-hdr": NEEDS["tap-vnet-hdr"], "tap-uso": NEEDS["tap-uso"]}, RELEVANT,
              host({"tap-vnet-hdr"}), PLATFORMS, [DRIFT])
    # USO came with Linux 6.2 (tun commits b22bbdd17a5a, 399e0827642f; features.toml).
    assert v.message == ("host target lacks tap-uso (Linux >= 6.2 / platform linux-6.2) required by "
                         f"virtio-net-pci net0 host_uso=on; {DRIFT}")
    ok = judge({"tap-vnet-hdr": NEEDS["tap-vnet-hdr"]}, RELEVANT, host({"tap-vnet-hdr", "tap-ufo"}), PLATFORMS)
    assert ok.message == "host target can run this VM (it also has tap-ufo, which the VM does not use)"


def test_an_identical_host_message_says_nothing_more() -> None:
    v = judge({"tap-vnet-hdr": NEEDS["tap-vnet-hdr"]}, RELEVANT, host({"tap-vnet-hdr"}), PLATFORMS)
    assert v.message == "host target can run this VM"


def test_every_extra_feature_is_named_and_problems_reach_json() -> None:
    ok = judge({"tap-vnet-hdr": NEEDS["tap-vnet-hdr"]}, RELEVANT, host({"tap-vnet-hdr", "tap-ufo", "tap-uso"}),
               PLATFORMS)
    assert ok.message == "host target can run this VM (it also has tap-ufo, tap-uso, which the VM does not use)"
    assert ok.to_json() == {"result": "superset", "host": "target", "responsible-features": ["tap-ufo", "tap-uso"],
                            "message": ok.message}
    bad = judge({"tap-vnet-hdr": NEEDS["tap-vnet-hdr"]}, RELEVANT, host({"tap-vnet-hdr"}), PLATFORMS, [DRIFT])
    assert bad.to_json() == {"result": "incompatible", "host": "target", "responsible-features": [],
                             "message": DRIFT, "problems": [DRIFT]}


def test_unknown_counts_as_lacking_with_its_status() -> None:
    """A real unprivileged probe cannot open /dev/kvm: kvm-smm is 'unknown', and a VM needing SMM
    gets no promise there (subset: nothing else differs)."""
    report = loads((PROBED / "debian12-6.18-pvm-unprivileged.json").read_text())
    assert report.status("kvm-smm") is FeatureStatus.UNKNOWN
    required = {f: NEEDS[f] for f in ("tap-vnet-hdr", "tap-ufo", "tap-uso", "kvm-smm")}
    v = judge(required, RELEVANT, report, PLATFORMS)
    assert v.result is Result.SUBSET
    assert [(s.feature, s.status.value) for s in v.shortfalls] == [("kvm-smm", "unknown")]
    assert v.shortfalls[0].reason == ("ioctl(VM fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_SMM=117): EACCES "
                                      "(open(/dev/kvm) failed: Permission denied)")


def test_real_root_probe_without_smm_is_incompatible_with_a_smm_vm_it_has_uso_for() -> None:
    """The real root report has USO but no KVM SMM (a PVM host): a VM made on a
    SMM host without USO is neither contained in it nor containing it."""
    report = loads((PROBED / "debian12-6.18-pvm-root.json").read_text())
    required = {f: NEEDS[f] for f in ("tap-vnet-hdr", "tap-ufo", "kvm-smm")}
    v = judge(required, RELEVANT, report, PLATFORMS)
    assert (v.result, v.responsible) == (Result.INCOMPATIBLE, ("kvm-smm",))


# -- generated cases, judged by an oracle written from the QAPI text above -----

STATUSES = st.sampled_from([FeatureStatus.SUPPORTED, FeatureStatus.UNSUPPORTED, FeatureStatus.UNKNOWN])


@st.composite
def cases(draw: st.DrawFn) -> tuple[set[str], dict[str, FeatureStatus], list[str]]:
    required = draw(st.sets(st.sampled_from(RELEVANT)))
    statuses = {f: draw(STATUSES) for f in RELEVANT}
    problems = draw(st.lists(st.sampled_from([DRIFT, "domain lost its pins"]), max_size=2, unique=True))
    return required, statuses, problems


def oracle(required: set[str], statuses: dict[str, FeatureStatus], problems: list[str]) -> Result:
    has = {f for f, s in statuses.items() if s is FeatureStatus.SUPPORTED}
    if problems:
        return Result.INCOMPATIBLE
    if has == required:
        return Result.IDENTICAL
    if has > required:
        return Result.SUPERSET
    if has < required:
        return Result.SUBSET
    return Result.INCOMPATIBLE


def _report(statuses: dict[str, FeatureStatus]) -> HostReport:
    return host({f for f, s in statuses.items() if s is FeatureStatus.SUPPORTED},
                {f: "probe could not tell" for f, s in statuses.items() if s is FeatureStatus.UNKNOWN})


@settings(max_examples=200, deadline=None)
@given(cases())
def test_verdict_matches_the_oracle(case: tuple[set[str], dict[str, FeatureStatus], list[str]]) -> None:
    required, statuses, problems = case
    v = judge({f: NEEDS[f] for f in required}, RELEVANT, _report(statuses), PLATFORMS, problems)
    assert v.result is oracle(*case)
    lacking = sorted(f for f in required if statuses[f] is not FeatureStatus.SUPPORTED)
    assert [s.feature for s in v.shortfalls] == lacking
    assert [s.status.value for s in v.shortfalls] == [statuses[f].value for f in lacking]


# Deterministic, and never a health-check failure on a loaded machine: this asks only whether
# the generator can reach a label.
SEARCH = settings(database=None, max_examples=5000, derandomize=True, deadline=None,
                  suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("label", list(Result))
def test_the_generator_reaches_every_label(label: Result) -> None:
    find(cases(), lambda c: oracle(*c) is label, settings=SEARCH)


def test_the_generator_reaches_subset_through_unknown_alone() -> None:
    """'subset' where nothing is unsupported: the host only could not tell."""
    find(cases(), lambda c: oracle(*c) is Result.SUBSET and FeatureStatus.UNSUPPORTED not in c[1].values()
         and FeatureStatus.UNKNOWN in c[1].values(), settings=SEARCH)
