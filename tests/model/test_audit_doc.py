"""docs/host-defaults-audit.md stays true to the catalog and to the tests it names."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.test_golden import CASES
from vmplatform.model.features import default_catalog

REPO = Path(__file__).parent.parent.parent
DOC = (REPO / "docs" / "host-defaults-audit.md").read_text()


def test_every_catalog_feature_is_audited() -> None:
    missing = [f.id for f in default_catalog() if f"`{f.id}`" not in DOC]
    assert missing == []


def test_governed_rows_name_features_that_govern_and_tests_that_exist() -> None:
    governed = DOC[DOC.index("## Governed"):DOC.index("## Not governed")]
    catalog = default_catalog()
    for fid in re.findall(r"\| `([a-z0-9-]+)`", governed):
        assert catalog.decides_properties(fid) or catalog.get(fid).category.value == "optional", fid
    refs = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC)
    assert len(refs) >= 10
    for path, name in refs:
        assert f"def {name}(" in (REPO / path).read_text(), f"{path}::{name}"
    for case in re.findall(r"cases `([\w.-]+)`, `([\w.-]+)`", DOC)[0]:
        assert case in CASES, case


def test_not_governed_features_are_never_guaranteed() -> None:
    ungoverned = DOC[DOC.index("## Not governed"):]
    catalog = default_catalog()
    named = re.findall(r"Probed as `([a-z0-9-]+)`", ungoverned)
    assert sorted(named) == ["kvm-hyperv-cpuid", "kvm-tsc-control", "tun-multiqueue"]
    assert not any(catalog.decides_properties(fid) for fid in named)
