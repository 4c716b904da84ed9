"""Traits set in a real OpenStack Placement select exactly the hosts 'check' accepts.

The service is openstack-placement from PyPI (its own venv), on SQLite with
noauth2, schema made by ``placement-manage db sync``. Each VM is asked for
as Nova would: ``GET /allocation_candidates?resources=VCPU:1&required=...``.
"""

from __future__ import annotations

import json
import random
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_cli
from vmplatform.errors import VmplatformError
from vmplatform.fleet.export_placement import PlacementClient, PlacementError, sync_placement
from vmplatform.fleet.export_traits import NAMESPACE, host_traits, required_traits, trait_map
from vmplatform.fleet.export_view import fleet_view
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.report import HostReport, dumps
from vmplatform.resolution.manifest import Manifest, check_manifest
from vmplatform.resolution.manifest import dumps as dumps_manifest
from vmplatform.resolution.manifest import loads as load_manifest

from .conftest import DATA, Placement, generated_fleet

pytestmark = pytest.mark.placement

TOKEN = "admin"  # noauth2: the token names the user; "admin" gets the admin role


def _get(placement: Placement, path: str) -> dict[str, object]:
    req = urllib.request.Request(placement.url + path, headers={
        "X-Auth-Token": TOKEN, "OpenStack-API-Version": "placement 1.20", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _manifests(platforms: PlatformSet) -> list[Manifest]:
    """The captured manifests, plus VMs that need random subsets of the catalog."""
    out = [load_manifest(p.read_text(encoding="utf-8"), str(p)) for p in sorted((DATA / "manifests").glob("*.json"))]
    rng = random.Random(11)
    ids = sorted(f.id for f in platforms.catalog)
    base = out[0]
    for i in range(12):
        need = rng.sample(ids, k=rng.randint(1, 5))
        out.append(Manifest(**{**base.__dict__, "requires": {f: f"test vm {i}" for f in need}}))
    return out


def _store_fleet(fleet: list[tuple[str, HostReport]], where: Path) -> str:
    """The fleet in a fleet store (SQLite), through 'vmplatform fleet add' as an operator would."""
    reports = where / "reports"
    reports.mkdir()
    for name, report in fleet:
        (reports / f"{name}.json").write_text(dumps(report), encoding="utf-8")
    db = str(where / "fleet.db")
    rc, _, err = run_cli(["fleet", "add", "--db", db, "--no-progress", str(reports)])
    assert rc == 0, err
    return db


def test_allocation_candidates_are_the_hosts_fleet_place_returns(placement: Placement, platforms: PlatformSet,
                                                                  tmp_path: Path) -> None:
    """vmplatform fleet export placement, then each VM: Placement's candidates == 'fleet place' == 'check'."""
    fleet = generated_fleet(platforms, 25, seed=5)
    db = _store_fleet(fleet, tmp_path)
    rc, out, err = run_cli(["fleet", "export", "placement", "--db", db, "--url", placement.url, "--token", TOKEN,
                            "--create-vcpus", "8", "--json"])
    assert rc == 0, err
    assert sorted(json.loads(out)["created"]) == sorted(name for name, _ in fleet)

    names = {rp["uuid"]: rp["name"] for rp in _get(placement, "/resource_providers")["resource_providers"]}  # type: ignore[index,union-attr]
    reports = dict(fleet)
    partial = 0
    for i, manifest in enumerate(_manifests(platforms)):
        path = tmp_path / f"vm{i}.json"
        path.write_text(dumps_manifest(manifest), encoding="utf-8")
        rc, out, err = run_cli(["fleet", "place", "--db", db, "--json", "--limit", str(len(fleet)), str(path)])
        placed = set(json.loads(out)["names"])
        assert rc == (0 if placed else 1), err     # docs/fleet.md: exit 1 if no host can take it
        rc, query, err = run_cli(["fleet", "export", "traits", "--format", "query", str(path)])
        assert rc == 0, err
        got = {names[u] for u in _get(placement, "/allocation_candidates?" + query.strip())["provider_summaries"]}  # type: ignore[union-attr]
        assert got == placed, query
        # and both are what 'check' says, host by host
        assert placed == {h for h, r in reports.items() if check_manifest(manifest, r, platforms).result.ok}
        partial += 0 < len(placed) < len(fleet)
    assert partial >= 3   # VMs that fit only some hosts: the comparison can fail


def test_second_sync_changes_nothing_and_keeps_foreign_traits(placement: Placement, platforms: PlatformSet) -> None:
    fleet = generated_fleet(platforms, 6, seed=9)
    view = fleet_view(fleet, platforms)
    tmap = trait_map(platforms)
    client = PlacementClient(placement.url, token=TOKEN)
    sync_placement(client, host_traits(view, tmap), tmap.meaning, create_vcpus=4)
    host = fleet[0][0]
    rp = _get(placement, f"/resource_providers?name={host}")["resource_providers"][0]  # type: ignore[index]
    traits = _get(placement, f"/resource_providers/{rp['uuid']}/traits")
    # An operator's (standard) trait next to ours must survive our next sync.
    body = json.dumps({"traits": traits["traits"] + ["COMPUTE_NET_ATTACH_INTERFACE"],  # type: ignore[operator]
                       "resource_provider_generation": traits["resource_provider_generation"]}).encode()
    req = urllib.request.Request(f"{placement.url}/resource_providers/{rp['uuid']}/traits", data=body, method="PUT",
                                 headers={"X-Auth-Token": TOKEN, "OpenStack-API-Version": "placement 1.20",
                                          "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()

    again = sync_placement(client, host_traits(view, tmap), tmap.meaning)
    assert again.updated == () and again.created == () and not again.traits_created
    assert sorted(again.unchanged) == sorted(h for h, _ in fleet)

    # The host loses a platform's features (kernel rollback): only our traits change.
    shrunk = fleet_view([(host, generated_fleet(platforms, 1, seed=1)[-1][1])], platforms)
    third = sync_placement(client, host_traits(shrunk, tmap))
    assert third.updated == (host,)
    now = set(_get(placement, f"/resource_providers/{rp['uuid']}/traits")["traits"])  # type: ignore[arg-type]
    assert "COMPUTE_NET_ATTACH_INTERFACE" in now
    assert {t for t in now if t.startswith(NAMESPACE)} == set(host_traits(shrunk, tmap)[host])


def test_missing_provider_is_reported_not_created(placement: Placement, platforms: PlatformSet) -> None:
    fleet = generated_fleet(platforms, 1, seed=77)[-1:]
    view = fleet_view(fleet, platforms)
    result = sync_placement(PlacementClient(placement.url, token=TOKEN), host_traits(view, trait_map(platforms)))
    assert result.missing == (fleet[0][0],)
    assert _get(placement, f"/resource_providers?name={fleet[0][0]}")["resource_providers"] == []


def test_unreachable_and_bad_url_are_clear_errors() -> None:
    with pytest.raises(PlacementError, match="not an http"):
        PlacementClient("placement:8778")
    client = PlacementClient("http://127.0.0.1:9", token=TOKEN)  # discard port: nothing listens
    with pytest.raises(VmplatformError, match="cannot reach Placement at http://127.0.0.1:9"):
        client.expect("GET", "/traits")


def test_unknown_required_feature_is_refused(platforms: PlatformSet) -> None:
    m = _manifests(platforms)[0]
    bad = Manifest(**{**m.__dict__, "requires": {"no-such-feature": "a device"}})
    with pytest.raises(VmplatformError, match="no-such-feature is not in the catalog"):
        required_traits(bad, trait_map(platforms))


