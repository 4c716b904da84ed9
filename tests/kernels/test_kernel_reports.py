"""Platforms and the catalog held to what real Debian kernels answered.

The reports under tests/data/kernels were captured by scripts/real-kernels:
each Debian kernel package booted under QEMU TCG with tun, vhost_net,
vhost_vsock and kvm_amd loaded, and this package's own probe run inside as
root and as nobody. They are the oracle here: independent of the platform
definitions, so a platform that promises a feature its own kernel release
lacks fails, whatever the definitions say.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.harness.realkernels.matrix import DATA_DIR, KernelRecord, load_records
from vmplatform.model.accel import Accel
from vmplatform.model.features import Catalog, Category, default_catalog
from vmplatform.model.platforms import Platform, PlatformSet, load_platforms
from vmplatform.model.report import FeatureStatus
from vmplatform.resolution.support import evaluate

RECORDS = load_records(DATA_DIR)
IDS = [r.abi for r in RECORDS]


def _series(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("-")[0].split(".")[:2])


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


@pytest.fixture(scope="module")
def platforms(catalog: Catalog) -> PlatformSet:
    return load_platforms(catalog=catalog, env={}, system=None)


def test_the_matrix_covers_5_10_to_7_x() -> None:
    series = {r.series for r in RECORDS}
    assert {(5, 10), (6, 1), (6, 12), (6, 16), (6, 17)} <= series
    assert any(major >= 7 for major, _ in series)


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_report_is_the_named_package(rec: KernelRecord) -> None:
    """The probe ran in the kernel the record names: Debian's uname -v carries the package version."""
    host = rec.report.host
    assert host.kernel_release == rec.meta["kernel-release"] == rec.abi
    assert f"Debian {rec.package_version} " in host.kernel_version
    assert host.os_release["VERSION_ID"] == rec.meta["debian-release"]
    assert rec.report.probe_mode == "root"
    # Every module the probe needs loaded, so no feature is missing for want of a device node.
    assert rec.meta["modules"] and all(state == "loaded" for state in rec.meta["modules"].values())
    assert all(rec.meta["device-nodes"].values())


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_kernel_features_appear_in_the_catalog_release(rec: KernelRecord, catalog: Catalog) -> None:
    """Each kernel feature is present exactly from the release the catalog names."""
    wrong = []
    for f in catalog:
        if f.category is not Category.KERNEL or not f.linux:
            continue
        expected = FeatureStatus.SUPPORTED if rec.series >= _series(f.linux) else FeatureStatus.UNSUPPORTED
        got = rec.report.status(f.id)
        if got is not expected:
            wrong.append(f"{f.id} (catalog: Linux {f.linux}): {got.value}, {rec.report.reason(f.id)}")
    assert not wrong, f"{rec.abi} {rec.package_version}: " + "; ".join(wrong)


def _upstream(platforms: PlatformSet) -> list[Platform]:
    return [p for p in platforms if p.vendor == "upstream"]


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_every_upstream_release_up_to_the_kernel_is_supported(rec: KernelRecord, platforms: PlatformSet) -> None:
    """linux-X.Y promises nothing a real X.Y (or later) kernel lacks: with every module loaded and
    KVM available, each of its guarantees holds (nothing unavailable, not merely "usable")."""
    sr = evaluate(rec.report, platforms)
    due = [p for p in _upstream(platforms) if p.kernel and _series(p.kernel) <= rec.series]
    assert due, "no upstream platform at or below this kernel"
    refused = {p.name: [u.feature for u in sr.get(p.name).unavailable]
               for p in due if sr.get(p.name).unavailable}
    assert not refused, f"{rec.abi}: platforms of its release or older refused: {refused}"


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_a_platform_newer_than_the_kernel_is_refused_when_it_adds_a_kernel_feature(
        rec: KernelRecord, platforms: PlatformSet, catalog: Catalog) -> None:
    """The other direction: a later upstream release that adds a kernel feature is not claimed."""
    sr = evaluate(rec.report, platforms)
    for p in _upstream(platforms):
        if not p.kernel or _series(p.kernel) <= rec.series:
            continue
        newer = [f for f in p.features if catalog.get(f).category is Category.KERNEL
                 and catalog.get(f).linux and _series(catalog.get(f).linux) > rec.series]
        if newer:
            assert not sr.get(p.name).supported, f"{p.name} supported on {rec.abi} although it needs {newer}"


def _own_distro_platform(rec: KernelRecord, platforms: PlatformSet) -> Platform | None:
    names = {p.name for p in platforms}
    base = f"linux-debian-{rec.meta['debian-release']}"
    if rec.suite.endswith("-backports"):
        return platforms.get(f"{base}-backports") if f"{base}-backports" in names else None
    return platforms.get(base) if base in names else None


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_debian_platform_is_supported_on_its_own_kernel(rec: KernelRecord, platforms: PlatformSet) -> None:
    own = _own_distro_platform(rec, platforms)
    if own is None:
        pytest.skip(f"no Debian platform for {rec.suite}")
    ps = evaluate(rec.report, platforms).get(own.name)
    lacking = [u.feature for u in ps.unavailable]
    assert ps.supported and not ps.unavailable, f"{own.name} on {rec.abi} {rec.package_version} lacks {lacking}"


def test_each_debian_release_platform_has_its_kernel_booted(platforms: PlatformSet) -> None:
    """Debian 11, 12 (and its backports) and 13 are each checked against a real kernel of theirs."""
    covered = {own.name for rec in RECORDS if (own := _own_distro_platform(rec, platforms))}
    assert {"linux-debian-11", "linux-debian-12", "linux-debian-13"} <= covered


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_distro_platforms_promise_their_upstream_base(rec: KernelRecord, platforms: PlatformSet,
                                                      catalog: Catalog) -> None:
    """Every platform (any vendor): the kernel features of its own release or older hold on any later real kernel.

    Features a distro backported (catalog release newer than the platform's
    kernel) are the distro's own and cannot be checked on Debian's kernels.
    """
    wrong = []
    for p in platforms:
        if not p.kernel or _series(p.kernel) > rec.series:
            continue
        for fid in p.features:
            f = catalog.get(fid)
            if f.category is Category.KERNEL and f.linux and _series(f.linux) <= _series(p.kernel):
                if rec.report.status(fid) is not FeatureStatus.SUPPORTED:
                    wrong.append(f"{p.name}: {fid}")
    assert not wrong, f"{rec.abi}: {wrong}"


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_default_platform_is_not_newer_than_the_running_kernel(rec: KernelRecord, platforms: PlatformSet) -> None:
    sr = evaluate(rec.report, platforms)
    assert sr.has_default
    assert _series(sr.default.kernel) <= rec.series, f"{rec.abi}: default {sr.default.name}"


@pytest.mark.parametrize("rec", [r for r in RECORDS if r.unprivileged is not None], ids=lambda r: r.abi)
def test_unprivileged_probe_never_contradicts_root(rec: KernelRecord) -> None:
    """As nobody a feature may become unknown (or, for BPF, refused by policy), never the opposite answer."""
    assert rec.unprivileged is not None
    # Every kernel booted is a Debian kernel from 5.10 on: unprivileged user namespaces are on by
    # default there (Debian 11 release notes: kernel.unprivileged_userns_clone defaults to 1), so
    # the probe as nobody always gets its own namespace.
    assert rec.unprivileged.probe_mode == "user-namespace"
    for res in rec.report.results:
        got = rec.unprivileged.status(res.feature)
        if got is res.status or got is FeatureStatus.UNKNOWN:
            continue
        # ebpf-rss is privilege-dependent by nature: unprivileged BPF is off on Debian kernels.
        assert res.feature == "ebpf-rss" and got is FeatureStatus.UNSUPPORTED, (
            f"{rec.abi}: {res.feature} is {res.status.value} as root, {got.value} as nobody")


def test_feature_answers_never_regress_across_releases() -> None:
    """A kernel feature a release has, every later release booted has too."""
    for older, newer in itertools.pairwise(RECORDS):
        lost = older.report.supported() - newer.report.supported()
        assert not lost, f"{newer.abi} lacks {sorted(lost)} which {older.abi} has"


PROBED = DATA_DIR.parent / "probed"
REAL_HOSTS = sorted(PROBED.glob("*-root.json"))


def test_real_host_reports_are_checked_in() -> None:
    assert REAL_HOSTS, f"no real host reports in {PROBED} (scripts/real-kernels --this-host)"


@pytest.mark.parametrize("root_path", REAL_HOSTS, ids=lambda p: p.stem)
def test_a_real_hosts_probe_as_nobody_never_contradicts_root(root_path: Path) -> None:
    """The checked-in probes of a real host (scripts/real-kernels --this-host): root, and nobody."""
    from vmplatform.model.report import loads

    root = loads(root_path.read_text(encoding="utf-8"), str(root_path))
    nobody_path = root_path.with_name(root_path.name.replace("-root.json", "-unprivileged.json"))
    nobody = loads(nobody_path.read_text(encoding="utf-8"), str(nobody_path))
    # a Debian kernel (unprivileged user namespaces on by default, as above)
    assert root.probe_mode == "root" and nobody.probe_mode == "user-namespace"
    assert nobody.host.kernel_release == root.host.kernel_release
    for res in root.results:
        got = nobody.status(res.feature)
        assert got is res.status or got is FeatureStatus.UNKNOWN or (
            res.feature == "ebpf-rss" and got is FeatureStatus.UNSUPPORTED), res.feature


@pytest.mark.parametrize("rec", [r for r in RECORDS if r.tun_only is not None], ids=lambda r: r.abi)
@pytest.mark.parametrize("accel", list(Accel), ids=lambda a: a.value)
def test_loading_optional_modules_changes_neither_support_nor_default(
        rec: KernelRecord, accel: Accel, platforms: PlatformSet) -> None:
    """The same kernel probed with only tun loaded, then with vhost_net, vhost_vsock and kvm_amd too:
    the default, and the support of every platform not newer than the kernel, stay the same (a
    host's answer must not flip because a module loaded or a device node was opened).

    Platforms newer than the kernel do still flip: on 5.10 without vhost_vsock, linux-5.14 ...
    linux-6.1 (and RHEL 9, Ubuntu 22.04, Debian 12) are usable "for VMs without vhost-vsock";
    loading vhost_vsock (5.10 has no SEQPACKET) makes them unsupported.
    """
    assert rec.tun_only is not None
    before = evaluate(rec.tun_only, platforms, accel)
    after = evaluate(rec.report, platforms, accel)
    assert before.default.name == after.default.name
    own = [p.name for p in platforms if p.kernel and _series(p.kernel) <= rec.series]
    assert {n: before.get(n).supported for n in own} == {n: after.get(n).supported for n in own}
    # Loading modules only adds guarantees; under KVM (kvm_amd gives /dev/kvm) strictly more.
    guaranteed_before = {ps.name for ps in before if ps.guaranteed}
    guaranteed_after = {ps.name for ps in after if ps.guaranteed}
    assert guaranteed_before <= guaranteed_after
    if accel is Accel.KVM:
        assert guaranteed_before < guaranteed_after


@pytest.mark.parametrize("rec", [r for r in RECORDS if r.tun_only is not None], ids=lambda r: r.abi)
def test_without_kvm_the_host_is_judged_for_tcg(rec: KernelRecord, platforms: PlatformSet,
                                                 catalog: Catalog) -> None:
    """No /dev/kvm (kvm_amd not loaded): support is computed for TCG, and no platform is refused
    for a KVM-only feature; with kvm_amd loaded it is computed for KVM."""
    assert rec.tun_only is not None
    sr = evaluate(rec.tun_only, platforms)
    assert sr.accel is Accel.TCG and evaluate(rec.report, platforms).accel is Accel.KVM
    kvm_only = {f.id for f in catalog if not f.matters_under(Accel.TCG)}
    assert kvm_only, "the catalog has KVM-only features"
    blamed = {ps.name: [u.feature for u in ps.unavailable if u.feature in kvm_only] for ps in sr}
    assert not any(blamed.values()), blamed
