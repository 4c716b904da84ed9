"""Property: over generated fleets, SQLite and PostgreSQL give the same answers, and both the naive one.

Fleets are grown by vmplatform.fleet.synth from the real reports under tests/data (a seed drawn by
Hypothesis), with reports arriving in a random order and some hosts reporting twice.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmplatform.fleet.ingest import ingest_docs
from vmplatform.fleet.questions import Fleet, Placer, domains_of, fleet_merge, fleet_platforms
from vmplatform.fleet.store import Store
from vmplatform.fleet.synth import generate, load_seeds
from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import loads as report_loads
from vmplatform.resolution.manifest import loads as manifest_loads

from . import oracle
from .conftest import HOSTS, MANIFESTS, fresh_pg

DATA = Path(__file__).parent.parent / "data"
SEEDS = load_seeds([HOSTS, DATA / "probed"])
PLATFORMS = load_platforms()
VMS = {f.stem: manifest_loads(f.read_text(), str(f)) for f in sorted(MANIFESTS.glob("*.json"))}


def _answers(url: str, docs: list[tuple[str, str]]) -> dict[str, object]:
    with Store.open(url) as store:
        res = ingest_docs(store, iter(docs), len(docs), progress=False, batch_size=7)
        assert res.reports == len(docs) and not res.refused
        fleet = Fleet(store, PLATFORMS)
        fp = fleet_platforms(fleet)
        placer = Placer(fleet)
        return {
            "platforms": {pc.platform.name: pc.hosts for pc in fp.platforms},
            "default": fp.default.name if fp.default else None,
            "held": {pc.platform.name: [(s.hosts, s.examples, [u.feature for u in s.lacks])
                                        for s in pc.held_back_by] for pc in fp.platforms},
            "domains": sorted(sorted(fleet.host_names(d.classes)) for d in domains_of(fleet).domains),
            "merge": sorted(fleet_merge(fleet).features),
            "place": {n: list(placer.place(m).names) for n, m in VMS.items()},
        }


@pytest.mark.postgres
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 60))
def test_sqlite_and_postgresql_agree_with_the_oracle(seed: int, n: int, tmp_path: Path) -> None:
    docs = list(generate(SEEDS, n, default_catalog(), seed=seed, prefix=f"h{seed % 97}"))
    rng = random.Random(seed)
    again = [(name, text) for name, text in rng.sample(docs, k=len(docs) // 3)]
    for i, (name, _text) in enumerate(again):          # a later report for some hosts, with other features
        obj = json.loads(docs[rng.randrange(len(docs))][1])
        obj["host"]["hostname"] = name
        obj["probed-at"] = f"2027-01-01T00:00:{i % 60:02d}+00:00"
        again[i] = (name, json.dumps(obj))
    stream = docs + again
    rng.shuffle(stream)                                # arrival order is not probe order
    db = tmp_path / f"{seed}-{n}.db"
    db.unlink(missing_ok=True)
    sqlite = _answers(str(db), stream)
    with fresh_pg() as url:
        postgres = _answers(url, stream)
    assert sqlite == postgres
    hosts = oracle.latest(report_loads(t, s) for s, t in stream)
    assert sqlite["platforms"] == oracle.platform_counts(hosts, PLATFORMS)
    assert sqlite["domains"] == sorted(sorted(d) for d in oracle.domains(hosts, PLATFORMS))
    assert sqlite["place"] == {n: oracle.place(hosts, m, PLATFORMS) for n, m in VMS.items()}
