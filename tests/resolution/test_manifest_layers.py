"""A manifest's pins name the resolution layer that decided them: a Layer, read and written as its JSON word."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmplatform.model.accel import Accel
from vmplatform.resolution import manifest
from vmplatform.resolution.layers import Layer
from vmplatform.resolution.manifest import ManifestError

MANIFEST = Path(__file__).parents[1] / "data" / "manifests" / "debian13-6.12-default.json"


def test_each_pin_source_reads_as_its_layer_and_writes_back_the_same_bytes() -> None:
    text = MANIFEST.read_text()
    m = manifest.loads(text, "m.json")
    words = [p["source"] for p in json.loads(text)["pinned-properties"]]
    assert [p.source for p in m.pins] == [Layer(w) for w in words]
    assert {p.source for p in m.pins} >= {Layer.PLATFORM}
    assert manifest.dumps(m) == text


def test_a_pin_source_that_is_no_layer_is_refused_naming_the_field() -> None:
    obj = json.loads(MANIFEST.read_text())
    obj["pinned-properties"][1]["source"] = "guesswork"
    with pytest.raises(ManifestError) as info:
        manifest.loads(json.dumps(obj), "m.json")
    assert (info.value.place, info.value.problem) == (
        "pinned-properties[1].source",
        "'guesswork' is not one of device-default, machine-type, backend, platform, user-global, user-device")


def test_the_accelerator_reads_as_an_accel_and_an_unknown_one_is_refused() -> None:
    obj = json.loads(MANIFEST.read_text())
    assert manifest.loads(json.dumps(obj), "m.json").accel is Accel(obj["accel"])
    obj["accel"] = "warp"
    with pytest.raises(ManifestError) as info:
        manifest.loads(json.dumps(obj), "m.json")
    assert (info.value.place, info.value.problem) == (
        "accel", "'warp' is not one of kvm, tcg, xen, hvf, whpx, nvmm, qtest")
