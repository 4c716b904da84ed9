"""Laws of manifests, verdicts, merges and baselines (Hypothesis).

Hosts are simulated (FakeHost) with any set of catalog features that a probe
could report: a feature is only supported when the features it requires are
(the probe cannot see vhost ring reset without /dev/vhost-net). VMs are
QEMU command lines over several machine types, accelerators and NIC
backends, optionally with a user override.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vmplatform import records
from vmplatform.errors import HostLacksFeatures, UsageError, VmplatformError
from vmplatform.model.features import Category, default_catalog
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import HostIdentity, HostReport
from vmplatform.probe.fake import FakeHost
from vmplatform.qemu.analysis import analyze
from vmplatform.resolution.baseline import BaselineError, baseline
from vmplatform.resolution.manifest import Manifest, Scope, check_manifest
from vmplatform.resolution.merge import merged_platform
from vmplatform.resolution.support import evaluate

CATALOG = default_catalog()
PLATFORMS = load_platforms(env={}, system=None)
MC = default_machine_catalog()
FEATURES = sorted(CATALOG.ids())
OS_RELEASES = [{}, {"ID": "debian", "VERSION_ID": "12"}, {"ID": "ubuntu", "ID_LIKE": "debian", "VERSION_ID": "24.04"},
               {"ID": "rhel", "ID_LIKE": "fedora", "VERSION_ID": "9.5"},
               # derivatives known only through ID_LIKE (their real os-release values)
               {"ID": "rocky", "ID_LIKE": "rhel centos fedora", "VERSION_ID": "9.5"},
               {"ID": "linuxmint", "ID_LIKE": "ubuntu debian", "VERSION_ID": "22"},
               {"ID": "devuan", "ID_LIKE": "debian", "VERSION_ID": "5"}]
OPTIONAL = frozenset(f.id for f in CATALOG if f.category is Category.OPTIONAL)
LAWS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def closed(features: frozenset[str]) -> frozenset[str]:
    """Drop features whose requirements are absent, as a probe would never report them."""
    out = set(features)
    changed = True
    while changed:
        changed = False
        for fid in sorted(out):
            if any(req not in out for req in CATALOG.get(fid).requires):
                out.discard(fid)
                changed = True
    return frozenset(out)


@st.composite
def hosts(draw: st.DrawFn, name: str | None = None) -> HostReport:
    """Any report a probe could write: features it confirmed (closed under their requirements),
    features it could not test (``unknown``, as an unprivileged probe reports KVM), and often no
    optional device at all (no /dev/vhost-net, no KVM SMM)."""
    drawn = frozenset(draw(st.sets(st.sampled_from(FEATURES))))
    if draw(st.booleans()):
        drawn -= OPTIONAL
    unknown = frozenset(draw(st.sets(st.sampled_from(FEATURES), max_size=4)))
    feats = closed(drawn - unknown)
    hostname = name or draw(st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True))
    kernel = draw(st.sampled_from(["4.18.0", "5.14.0", "6.1.0", "6.8.0", "6.12.0", "6.18.0"]))
    return FakeHost(hostname=hostname, kernel_release=kernel, supported=feats,
                    unknown={f: "the probe could not tell" for f in sorted(unknown - feats)},
                    os_release=draw(st.sampled_from(OS_RELEASES))).run(CATALOG)


def distinct_hosts(n_min: int, n_max: int) -> st.SearchStrategy[list[HostReport]]:
    return st.lists(hosts(), min_size=n_min, max_size=n_max, unique_by=lambda r: r.name)


NETDEVS = ["tap,id=n0,script=no,downscript=no", "tap,id=n0,vhost=on,script=no,downscript=no",
           "user,id=n0", "tap,id=n0,vnet_hdr=off,script=no,downscript=no"]
OVERRIDES = ["", ",host_uso=off", ",guest_ufo=off", ",in_order=on", ",queue_reset=off"]


@st.composite
def vms(draw: st.DrawFn) -> list[str]:
    machine = draw(st.sampled_from(["pc-q35-10.0", "pc-q35-8.1", "pc-i440fx-9.2", "pc-q35-7.1"]))
    accel = draw(st.sampled_from(["kvm", "tcg"]))
    netdev = draw(st.sampled_from(NETDEVS))
    extra = draw(st.sampled_from(OVERRIDES))
    return ["-machine", f"{machine},accel={accel}", "-netdev", netdev,
            "-device", f"virtio-net-pci,netdev=n0,id=net0{extra}"]


def made_on(report: HostReport, argv: Sequence[str], scope: Scope,
            fleet: Sequence[HostReport] = ()) -> Manifest | None:
    """The manifest, or None when the host cannot run the VM so resolved (analyze refuses).

    It refuses with HostLacksFeatures, or, for the default platform of a host
    that supports no platform at all (no TAP vnet header), with the error
    that says so; never with a usage error for these well-formed VMs.
    """
    try:
        return analyze(argv, mc=MC, platforms=PLATFORMS, report=report, scope=scope, fleet=fleet)[1]
    except HostLacksFeatures:
        return None
    except VmplatformError as err:
        assert not isinstance(err, UsageError)
        assert "supports none of the" in err.message
        return None


def with_features(report: HostReport, extra: frozenset[str]) -> HostReport:
    """The same host after a kernel upgrade that adds ``extra`` (closed under requirements)."""
    feats = closed(report.supported() | extra)
    fake = FakeHost(hostname=report.name, kernel_release=report.host.kernel_release, supported=feats,
                    os_release=report.host.os_release)
    return fake.run(CATALOG)


@LAWS
@given(hosts(name="creator"), vms(), st.sampled_from(list(Scope)), distinct_hosts(0, 3))
def test_a_host_satisfies_every_manifest_made_on_it(host: HostReport, argv: list[str], scope: Scope,
                                                    others: list[HostReport]) -> None:
    fleet = [host, *others] if scope in (Scope.HOSTS, Scope.ANYWHERE) else []
    manifest = made_on(host, argv, scope, fleet)
    event("analysed" if manifest is not None else "refused by analyze")
    if manifest is None:
        return  # the host cannot run this VM in this scope: there is no manifest to satisfy
    verdict = check_manifest(manifest, host, PLATFORMS, MC)
    assert verdict.result.ok, verdict.message


@LAWS
@given(hosts(name="creator"), vms(), hosts(name="target"), st.sets(st.sampled_from(FEATURES)))
def test_verdicts_are_monotone_when_a_host_gains_features(creator: HostReport, argv: list[str],
                                                          target: HostReport, gained: set[str]) -> None:
    manifest = made_on(creator, argv, Scope.HOST)
    if manifest is None:
        return
    before = check_manifest(manifest, target, PLATFORMS)
    after = check_manifest(manifest, with_features(target, frozenset(gained)), PLATFORMS)
    event(f"{before.result.value} -> {after.result.value}")
    if before.result.ok:
        assert after.result.ok, after.message
    assert set(after.responsible) <= set(before.responsible) or after.result.ok


@LAWS
@given(distinct_hosts(1, 5), st.randoms(use_true_random=False))
def test_merge_is_commutative_and_supported_by_every_input_host(reports: list[HostReport], rnd: object) -> None:
    shuffled = list(reports)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    merged = merged_platform(reports, PLATFORMS)
    assert merged_platform(shuffled, PLATFORMS) == merged
    extended = PLATFORMS.with_platform(merged)
    for r in reports:
        assert evaluate(r, extended).get(merged.name).supported, r.name


def renamed(report: HostReport, suffix: str) -> HostReport:
    return records.replace(report, host=records.replace(report.host, hostname=report.name + suffix))


@LAWS
@given(distinct_hosts(1, 4))
def test_merge_and_baseline_are_idempotent(reports: list[HostReport]) -> None:
    """Adding hosts identical to ones already there changes neither the features nor the baseline."""
    twice = reports + [renamed(r, "-twin") for r in reports]
    assert merged_platform(twice, PLATFORMS).features == merged_platform(reports, PLATFORMS).features
    try:
        once = baseline(reports, PLATFORMS).platform
    except BaselineError:
        return
    assert baseline(twice, PLATFORMS).platform == once


@LAWS
@given(distinct_hosts(1, 5), st.randoms(use_true_random=False))
def test_baseline_is_commutative_and_supported_by_every_host(reports: list[HostReport], rnd: object) -> None:
    shuffled = list(reports)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    try:
        result = baseline(reports, PLATFORMS)
    except BaselineError:
        return
    assert baseline(shuffled, PLATFORMS) == result
    for r in reports:
        assert evaluate(r, PLATFORMS).get(result.platform.name).supported
    for newer in result.newer:
        assert newer.platform.released > result.platform.released
        for held in newer.held_back_by:
            assert held.lacks, f"{held.host} holds {newer.platform.name} back without lacking anything"


def test_hypothesis_hosts_are_valid_reports() -> None:
    """The strategy makes reports the real loader accepts (identity fields, every feature listed)."""
    from vmplatform.model.report import dumps, loads

    r = FakeHost(hostname="x", supported=closed(frozenset(FEATURES))).run(CATALOG)
    assert isinstance(r.host, HostIdentity)
    assert loads(dumps(r)) == r


def test_hypothesis_hosts_reach_the_edges() -> None:
    """unknown statuses, ID_LIKE-only distros, hosts without any optional device."""
    from hypothesis import find

    from vmplatform.model.report import FeatureStatus

    quiet = settings(database=None, max_examples=5000, derandomize=True)
    find(hosts(), lambda r: any(x.status is FeatureStatus.UNKNOWN for x in r), settings=quiet)
    find(hosts(), lambda r: "ID_LIKE" in r.host.os_release and r.host.os_release["ID"] not in
         {p.vendor for p in PLATFORMS}, settings=quiet)
    find(hosts(), lambda r: not (r.supported() & OPTIONAL) and "tap-uso" in r.supported(), settings=quiet)
