"""Every corpus manifest checked on every corpus host, against the hand-checked
table in verdict_matrix.toml (the reasoning for each entry is written there)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.conftest import run_cli

HERE = Path(__file__).parent
DATA = HERE.parent / "data"
TABLE = tomllib.loads((HERE / "verdict_matrix.toml").read_text())
TARGETS: list[str] = TABLE["targets"]
CASES = [(m, t, want) for m, row in TABLE["manifests"].items() for t, want in zip(TARGETS, row, strict=True)]


def test_the_table_covers_the_whole_corpus() -> None:
    hosts = sorted(p.stem for p in (DATA / "hosts").glob("*.json"))
    assert TARGETS == hosts
    assert sorted(TABLE["manifests"]) == sorted(p.stem for p in (DATA / "manifests").glob("*.json"))
    assert len(CASES) == 98


@pytest.mark.parametrize("manifest,target,want", CASES, ids=[f"{m}-on-{t}" for m, t, _ in CASES])
def test_check_manifest_on_host(manifest: str, target: str, want: str) -> None:
    label, *responsible = want.split()
    rc, out, err = run_cli(["check", "--json", "--manifest", str(DATA / "manifests" / f"{manifest}.json"),
                            "--host", str(DATA / "hosts" / f"{target}.json")])
    verdict = json.loads(out)
    assert (verdict["result"], verdict["responsible-features"]) == (label, responsible)
    # The real report's hostname is the machine's own ("vm"); the simulated ones are named like their file.
    assert verdict["host"] == ("vm" if target == "vm-debian12-6.18-pvm" else target)
    assert rc == (0 if label in ("identical", "superset") else 1)
    assert err == ""


@pytest.mark.parametrize("host", TARGETS)
@pytest.mark.parametrize("scope", ["host", "default"])
def test_manifest_pins_what_the_host_has(host: str, scope: str) -> None:
    cls, default = TABLE["hosts"][host]
    m = json.loads((DATA / "manifests" / f"{host}-{scope}.json").read_text())
    assert [r["feature"] for r in m["requires"]] == TABLE["requires"][cls]
    assert m["scope"] == {"kind": "host" if scope == "host" else "platform"}
    assert m["platform"] == (None if scope == "host" else default)
    assert m["migratable"] is (scope != "host")
    uso = {p["property"]: p["value"] for p in m["pinned-properties"] if p["property"] in
           ("host_uso", "guest_uso4", "guest_uso6")}
    assert uso == dict.fromkeys(("host_uso", "guest_uso4", "guest_uso6"), "on" if cls in "BC" else "off")
    smm = [p["value"] for p in m["pinned-properties"] if p["property"] == "smm"]
    assert smm == (["on"] if cls in "AB" else ["off"])
