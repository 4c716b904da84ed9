"""Host report JSON: round trip, and exact errors for bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmplatform.errors import HostReportError
from vmplatform.model.features import Catalog
from vmplatform.model.report import Evidence, FeatureResult, FeatureStatus, HostIdentity, HostReport, dumps, loads
from vmplatform.probe import FakeHost

IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
TEXT = st.text(max_size=40)


@st.composite
def reports(draw: st.DrawFn) -> HostReport:
    ids = draw(st.lists(IDS, unique=True, max_size=8))
    results = tuple(FeatureResult(
        fid, draw(st.sampled_from(list(FeatureStatus))),
        Evidence(draw(TEXT), draw(TEXT), draw(TEXT), draw(st.none() | st.integers(0, 200)),
                 draw(st.integers(0, 10**6)) / 10)) for fid in ids)
    ident = HostIdentity(draw(TEXT), draw(TEXT), draw(TEXT), draw(TEXT),
                         draw(st.dictionaries(st.sampled_from(["ID", "VERSION_ID", "PRETTY_NAME"]), TEXT)))
    return HostReport(ident, results, draw(TEXT), draw(TEXT), draw(st.integers(0, 10**6)) / 10, draw(TEXT))


@settings(max_examples=100, deadline=None)
@given(reports())
def test_round_trip(report: HostReport) -> None:
    back = loads(dumps(report))
    assert dumps(back) == dumps(report)
    assert back.results == report.results
    assert dict(back.host.os_release) == dict(report.host.os_release)


def _good(mini_catalog: Catalog) -> str:
    return dumps(FakeHost.with_features(["tap-vnet-hdr"]).run(mini_catalog))


def test_truncated_report(mini_catalog: Catalog) -> None:
    text = _good(mini_catalog)
    with pytest.raises(HostReportError) as exc:
        loads(text[: len(text) // 2], "r.json")
    assert str(exc.value).startswith("r.json: truncated JSON (ends at line")
    assert "vmplatform probe --json" in str(exc.value)


@pytest.mark.parametrize("mutate, message", [
    (lambda o: o.update(schema="something/else"), "r.json: not a vmplatform host report (schema 'something/else'"),
    (lambda o: o["features"][0].update(status="maybe"), "r.json: features[0].status: 'maybe' is not one of "
                                                        "supported, unsupported, unknown"),
    (lambda o: o["features"][0].pop("id"), "r.json: features[0].id: missing"),
    (lambda o: o["host"].pop("kernel-release"), "r.json: host.kernel-release: missing"),
    (lambda o: o.update(features={}), "r.json: features: must be a list, not an object"),
    (lambda o: o["features"].append(dict(o["features"][0])), "r.json: features[6]: feature 'tap-vnet-hdr' "
                                                             "appears twice"),
    (lambda o: o["features"][1]["evidence"].update(errno="x"), "r.json: features[1].evidence.errno: must be an "
                                                              "integer, not a string"),
])
def test_invalid_reports(mini_catalog: Catalog, mutate: object, message: str) -> None:
    obj = json.loads(_good(mini_catalog))
    mutate(obj)  # type: ignore[operator]
    with pytest.raises(HostReportError) as exc:
        loads(json.dumps(obj), "r.json")
    assert str(exc.value).startswith(message), str(exc.value)


@pytest.mark.parametrize("text, message", [
    ("", "r.json: empty file"),
    ("[1, 2]", "r.json: top level: must be an object, not a list"),
    ("{\"schema\": 1,,}", "r.json: invalid JSON at line 1"),
])
def test_garbage(text: str, message: str) -> None:
    with pytest.raises(HostReportError) as exc:
        loads(text, "r.json")
    assert str(exc.value).startswith(message)


def test_missing_feature_is_unknown(mini_catalog: Catalog) -> None:
    obj = json.loads(_good(mini_catalog))
    obj["features"] = [f for f in obj["features"] if f["id"] != "tap-uso"]
    report = loads(json.dumps(obj))
    assert report.status("tap-uso") is FeatureStatus.UNKNOWN
    assert "not probed" in report.reason("tap-uso")
