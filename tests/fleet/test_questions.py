"""Every fleet question against the naive oracle (each host's own full report), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from vmplatform.fleet.ingest import ingest
from vmplatform.fleet.questions import (
    Fleet,
    admit,
    domains_of,
    fleet_merge,
    fleet_platforms,
    history,
    place,
    plan,
    upgrade_impact,
)
from vmplatform.fleet.store import Store
from vmplatform.model.platforms import PlatformSet, load_platforms
from vmplatform.model.report import loads as report_loads
from vmplatform.resolution.baseline import baseline
from vmplatform.resolution.manifest import Manifest
from vmplatform.resolution.manifest import loads as manifest_loads
from vmplatform.resolution.merge import common_features, load_reports

from . import oracle
from .conftest import HOSTS, MANIFESTS


@pytest.fixture(scope="module")
def platforms() -> PlatformSet:
    return load_platforms()


def _manifests() -> dict[str, Manifest]:
    return {f.stem: manifest_loads(f.read_text(), str(f)) for f in sorted(MANIFESTS.glob("*.json"))}


def test_place_platforms_domains_merge_match_the_oracle(store: Store, platforms: PlatformSet) -> None:
    ingest(store, [str(HOSTS)])
    hosts = oracle.latest(load_reports([HOSTS]))
    fleet = Fleet(store, platforms)
    assert [c.hosts for c in fleet.classes] and fleet.total_hosts == len(hosts)
    assert len(fleet.classes) < len(hosts)   # the seven hosts fall into fewer classes
    for name, m in _manifests().items():
        pl = place(fleet, m)
        expected = oracle.place(hosts, m, platforms)
        assert list(pl.names) == expected, name
        assert pl.hosts + sum(r.hosts for r in pl.refused) == len(hosts)
    fp = fleet_platforms(fleet)
    assert {pc.platform.name: pc.hosts for pc in fp.platforms} == oracle.platform_counts(hosts, platforms)
    assert fp.default == baseline(list(hosts.values()), platforms).platform
    got = {frozenset(fleet.host_names(d.classes)) for d in domains_of(fleet).domains}
    assert got == oracle.domains(hosts, platforms)
    assert fleet_merge(fleet).features == common_features(hosts.values(), platforms)


def test_place_limit_and_group(store: Store, platforms: PlatformSet) -> None:
    ingest(store, [str(HOSTS)])
    store.label(["debian12-6.1", "debian13-6.12", "el8-4.18"], "rack1")
    m = _manifests()["debian13-6.12-host"]   # needs what a 6.12 host offers, e.g. tap-uso
    everywhere = place(Fleet(store, platforms), m)
    assert place(Fleet(store, platforms), m, limit=1).names == everywhere.names[:1]
    rack = place(Fleet(store, platforms, "rack1"), m)
    assert set(rack.names) <= {"debian12-6.1", "debian13-6.12", "el8-4.18"}
    assert "debian13-6.12" in rack.names and "el8-4.18" not in rack.names


def test_admit_is_check(store: Store, platforms: PlatformSet) -> None:
    from vmplatform.resolution.manifest import check_manifest

    ingest(store, [str(HOSTS)])
    for m in _manifests().values():
        for f in sorted(HOSTS.glob("*.json")):
            r = report_loads(f.read_text())
            assert admit(store, platforms, m, r.name).to_json() == check_manifest(m, r, platforms).to_json()
    store.retire("el9-5.14")
    v = admit(store, platforms, _manifests()["el8-4.18-default"], "el9-5.14")
    assert not v.result.ok and "retired" in v.message


def _variant(src: str, hostname: str, probed_at: str, kernel: str | None = None) -> str:
    obj = json.loads((HOSTS / f"{src}.json").read_text())
    obj["host"]["hostname"] = hostname
    obj["probed-at"] = probed_at
    if kernel:
        obj["host"]["kernel-release"] = kernel
    return json.dumps(obj)


def test_history_flags_a_downgrade_and_the_vms_it_breaks(store: Store, platforms: PlatformSet,
                                                          tmp_path: Path) -> None:
    # h1 runs Debian 13's 6.12, then is rolled back to Debian 12's 6.1: tap-uso (Linux 6.2) goes away.
    (tmp_path / "1.json").write_text(_variant("debian13-6.12", "h1", "2026-01-01T00:00:00Z"))
    (tmp_path / "2.json").write_text(_variant("debian13-6.12", "h1", "2026-01-02T00:00:00Z"))
    (tmp_path / "3.json").write_text(_variant("debian12-6.1", "h1", "2026-01-03T00:00:00Z"))
    ingest(store, [str(tmp_path)])
    ms = _manifests()
    h = history(store, platforms, "h1", ms)
    assert h.reports == 3 and len(h.changes) == 1   # the identical second report is no change
    c = h.changes[0]
    assert c.kernel_downgrade and c.flagged and "tap-uso" in c.lost
    broken = {b.vm for b in c.broken}
    assert "debian13-6.12-host" in broken            # it relies on everything the 6.12 host had
    assert "el8-4.18-default" not in broken          # an EL8 VM ran before and still runs
    assert all(b.verdict.result.ok is False for b in c.broken)


def test_plan_is_the_baseline_of_those_hosts(store: Store, platforms: PlatformSet) -> None:
    ingest(store, [str(HOSTS)])
    p = plan(store, platforms, "debian13-6.12", ["ubuntu2404-6.8", "el9-5.14"])
    reports = [report_loads((HOSTS / f"{n}.json").read_text()) for n in ("debian13-6.12", "ubuntu2404-6.8",
                                                                         "el9-5.14")]
    assert p.platform == baseline(reports, platforms).platform
    assert p.merged.features == common_features(reports, platforms)
    assert "tap-uso" not in p.merged.features        # EL9's 5.14 has no USO


def test_upgrade_impact_rollback_loses_destinations(store: Store, platforms: PlatformSet) -> None:
    ingest(store, [str(HOSTS)])
    store.label(["debian13-6.12", "ubuntu2404-6.8"], "uso-hosts")
    fleet = Fleet(store, platforms)
    ms = _manifests()
    # Roll both back to Debian 12's kernel, whose statuses a stored report shows.
    imp = upgrade_impact(fleet, store, "uso-hosts", "6.1.0-26-amd64", ms)
    assert imp.hosts == 2 and "stored report" in imp.basis
    lost = {v.vm: (v.before, v.after) for v in imp.vms}
    uso_vm = ms["debian13-6.12-host"]
    assert "tap-uso" in uso_vm.requires
    before = len(oracle.place(oracle.latest(load_reports([HOSTS])), uso_vm, platforms))
    assert lost["debian13-6.12-host"][0] == before and lost["debian13-6.12-host"][1] < before
    assert "el8-4.18-default" not in lost
    # Upstream rule when no host ever ran that release: 6.12 keeps USO, nothing lost for the USO VM.
    imp2 = upgrade_impact(fleet, store, "uso-hosts", "6.13.0", ms)
    assert "upstream" in imp2.basis and "debian13-6.12-host" not in {v.vm for v in imp2.vms}


def test_cli_questions(tmp_path: Path) -> None:
    db = str(tmp_path / "f.db")
    assert run_cli(["fleet", "add", "--db", db, str(HOSTS), str(MANIFESTS), "--group", "all"])[0] == 0
    m = str(MANIFESTS / "debian13-6.12-host.json")
    rc, out, err = run_cli(["fleet", "place", "--db", db, m, "--json"])
    assert rc == 0, err
    expected = oracle.place(oracle.latest(load_reports([HOSTS])), manifest_loads(Path(m).read_text()),
                            load_platforms())
    assert expected and json.loads(out)["names"] == expected
    rc, out, _ = run_cli(["fleet", "admit", "--db", db, m, "--host", "el8-4.18", "--json"])
    # EL8's 4.18 kernel has no TAP USO (TUN_F_USO4/6 came in Linux 6.2) and the VM pins host_uso=on;
    # the machine type is the same QEMU's: nothing but features is wrong, so exactly 'subset'.
    assert rc == 1 and json.loads(out)["result"] == "subset"
    rc, out, err = run_cli(["fleet", "admit", "--db", db, m, "--host", "el8-4.18"])
    assert rc == 1 and err.startswith("subset: host el8-4.18 lacks tap-uso "), (out, err)
    # the host the manifest was analysed on: exactly its own features
    rc, out, _ = run_cli(["fleet", "admit", "--db", db, m, "--host", "debian13-6.12"])
    assert rc == 0 and out.startswith("identical: host debian13-6.12 can run this VM")
    rc, out, err = run_cli(["fleet", "admit", "--db", db, m, "--host", "nope"])
    assert rc == 1 and "no host 'nope' in the fleet store" in err
    for argv in (["domains"], ["merge", "--group", "all"], ["history", "el8-4.18"],
                 ["plan", "el9-5.14", "--to", "el8-4.18"], ["upgrade-impact", "--group", "all", "--kernel", "6.12.0"]):
        rc, out, err = run_cli(["fleet", *argv, "--db", db])
        assert rc == 0, (argv, err)
        assert out.strip()
    rc, out, _ = run_cli(["fleet", "merge", "--db", db, "--name", "fleet-all"])
    assert 'name = "fleet-all"' in out
    plat = tmp_path / "fleet-all.toml"
    plat.write_text(out)
    rc, out, err = run_cli(["platforms", "show", "fleet-all", "--platform-dir", str(tmp_path)])
    assert rc == 0, err
