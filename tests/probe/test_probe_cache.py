"""The per-boot probe cache: hit when nothing changed, miss on anything that could."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmplatform.model.features import Catalog
from vmplatform.model.report import HostReport
from vmplatform.probe.cache import cached_probe, fingerprint
from vmplatform.probe.fake import FakeHost


@pytest.fixture()
def probes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mini_catalog: Catalog) -> list[HostReport]:
    monkeypatch.setenv("VMPLATFORM_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("VMPLATFORM_NO_PROBE_CACHE", raising=False)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    return []


def _probe(calls: list[HostReport], catalog: Catalog) -> HostReport:
    report = FakeHost.with_features(["tap-vnet-hdr"], hostname=f"probe-{len(calls)}").run(catalog)
    calls.append(report)
    return report


def test_second_call_is_a_hit(probes: list[HostReport], mini_catalog: Catalog) -> None:
    first = cached_probe(mini_catalog, lambda: _probe(probes, mini_catalog))
    second = cached_probe(mini_catalog, lambda: _probe(probes, mini_catalog))
    assert len(probes) == 1
    assert second == first


def test_ld_preload_changes_the_key(probes: list[HostReport], mini_catalog: Catalog,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(mini_catalog)
    cached_probe(mini_catalog, lambda: _probe(probes, mini_catalog))
    monkeypatch.setenv("LD_PRELOAD", "/tmp/uso-shim.so")
    assert fingerprint(mini_catalog) != before
    assert cached_probe(mini_catalog, lambda: _probe(probes, mini_catalog)).name == "probe-1"


def test_bypass_and_corrupt_cache(probes: list[HostReport], mini_catalog: Catalog, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cached_probe(mini_catalog, lambda: _probe(probes, mini_catalog))
    for f in tmp_path.glob("host-report-*.json"):
        f.write_text('{"schema": "vmplatform/host-report/1", "truncated')
    assert cached_probe(mini_catalog, lambda: _probe(probes, mini_catalog)).name == "probe-1"
    monkeypatch.setenv("VMPLATFORM_NO_PROBE_CACHE", "1")
    cached_probe(mini_catalog, lambda: _probe(probes, mini_catalog))
    assert len(probes) == 3
