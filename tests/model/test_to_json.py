"""Every model and result type spells "as JSON" one way: ``to_json()`` gives JSON's own types, ready to dump."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from vmplatform.model.features import default_catalog
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import HostReport, loads
from vmplatform.model.vm import VmConfig
from vmplatform.resolution import manifest
from vmplatform.resolution.baseline import baseline
from vmplatform.resolution.compare import compare
from vmplatform.resolution.resolve import nic, resolve
from vmplatform.resolution.support import evaluate

DATA = Path(__file__).parents[1] / "data"
PLATFORMS = load_platforms(env={}, system=None)


def _report(name: str) -> HostReport:
    return loads((DATA / "hosts" / f"{name}.json").read_text(), name)


@cache
def _samples() -> dict[str, object]:
    el9, deb13 = _report("el9-5.14"), _report("debian13-6.12")
    mc = default_machine_catalog()
    m = manifest.loads((DATA / "manifests" / "debian13-6.12-default.json").read_text(), "m.json")
    sr = evaluate(el9, PLATFORMS)
    return {
        "host report": el9, "feature": default_catalog().get("tap-uso"), "platform": PLATFORMS.get("linux-6.2"),
        "platform support": sr.get("linux-6.2"), "support report": sr,
        "resolution": resolve(mc, PLATFORMS, VmConfig("pc-q35-10.0", (nic(),)), PLATFORMS.get("linux-6.2")),
        "manifest": m, "verdict": manifest.check_manifest(m, el9, PLATFORMS),
        "comparison": compare(el9, deb13, PLATFORMS, mc), "baseline": baseline([el9, deb13], PLATFORMS),
    }


def _native(value: object, where: str) -> None:
    """Only what json.dumps writes as itself: no tuples, mapping proxies, enums or dates."""
    if isinstance(value, dict):
        assert type(value) is dict, where
        for k, v in value.items():
            assert type(k) is str, f"{where}: key {k!r}"
            _native(v, f"{where}.{k}")
    elif isinstance(value, list):
        assert type(value) is list, where
        for i, v in enumerate(value):
            _native(v, f"{where}[{i}]")
    else:
        assert value is None or type(value) in (str, int, float, bool), f"{where}: {type(value).__name__}"


@pytest.mark.parametrize("kind", list(_samples()))
def test_to_json_is_made_of_json_types_only(kind: str) -> None:
    obj = _samples()[kind].to_json()  # type: ignore[attr-defined]
    _native(obj, kind)
    assert json.loads(json.dumps(obj)) == obj


def test_text_forms_are_dumps_of_to_json() -> None:
    from vmplatform.model import report

    r = _report("el9-5.14")
    assert report.dumps(r) == json.dumps(r.to_json(), indent=2) + "\n"
    m = manifest.loads((DATA / "manifests" / "el9-5.14-default.json").read_text())
    assert manifest.dumps(m) == json.dumps(m.to_json(), indent=2, sort_keys=True) + "\n"
