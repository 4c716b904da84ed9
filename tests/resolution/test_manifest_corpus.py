"""The manifest corpus (tests/data/manifests) is what 'vmplatform analyze' writes today.

tests/resolution/verdict_matrix.toml holds the hand-checked verdict of each of
these manifests on every host of the corpus, and what each must pin; this
test keeps the files current. Regenerate with
``.venv/bin/python tests/data/manifests/make_manifests.py`` after an
intended change, and review the diff.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.harness.corpus import CORPUS, MANIFESTS, report
from vmplatform.model.platforms import PlatformSet
from vmplatform.resolution.manifest import check_manifest, loads


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_manifests", MANIFESTS / "make_manifests.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()
CASES = [(host, scope) for host in CORPUS for scope in GEN.SCOPES]


@pytest.mark.parametrize(("host", "scope"), CASES)
def test_manifest_is_current_and_byte_identical(host: str, scope: str) -> None:
    path: Path = MANIFESTS / f"{host}-{scope}.json"
    first, second = GEN.manifest_text(host, scope), GEN.manifest_text(host, scope)
    assert first == second, "analysing the same VM twice must give byte-identical output"
    assert path.read_text() == first, f"{path.name} is stale: run tests/data/manifests/make_manifests.py"


@pytest.mark.parametrize(("host", "scope"), CASES)
def test_the_creating_host_gets_identical(host: str, scope: str, platforms: PlatformSet) -> None:
    manifest = loads((MANIFESTS / f"{host}-{scope}.json").read_text())
    assert check_manifest(manifest, report(host), platforms).result.value == "identical"


def test_no_stray_manifests() -> None:
    expected = {f"{h}-{s}.json" for h, s in CASES}
    assert {p.name for p in MANIFESTS.glob("*.json")} == expected


def test_the_example_in_docs_manifest_md_is_what_analyze_writes() -> None:
    """docs/manifest.md shows real output; this keeps it real."""
    from tests.conftest import run_cli

    doc = (MANIFESTS.parent.parent.parent / "docs" / "manifest.md").read_text()
    block = doc[doc.index("$ vmplatform analyze --host tests/data/hosts/ubuntu2404-6.8.json"):]
    block = block[:block.index("```")]
    command, _, shown = block.partition("\n{")
    argv = command.replace("\\\n", " ").split()[2:]
    rc, out, err = run_cli([str(MANIFESTS.parent.parent.parent / a) if a.startswith("tests/") else a for a in argv])
    assert (rc, err) == (0, "")
    assert out == "{" + shown
