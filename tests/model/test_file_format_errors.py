"""Manifest, host-report, domain-XML and data-file errors share one structured base."""

from __future__ import annotations

import pytest

from vmplatform.errors import DataFileError, FileFormatError, HostReportError
from vmplatform.libvirt import _xml
from vmplatform.libvirt._xml import DomainXmlError
from vmplatform.model import report
from vmplatform.resolution import manifest
from vmplatform.resolution.manifest import ManifestError


def test_a_manifest_field_error_names_source_place_and_problem() -> None:
    with pytest.raises(ManifestError) as info:
        manifest.loads('{"schema": "vmplatform/manifest/1", "scope": {"kind": "nonsense"}}', "m.json")
    err = info.value
    assert isinstance(err, FileFormatError)
    assert (err.source, err.place) == ("m.json", "scope.kind")
    assert err.problem.startswith("'nonsense' is not one of ")
    assert err.message == f"m.json: scope.kind: {err.problem}"


def test_a_host_report_error_names_source_place_and_problem() -> None:
    with pytest.raises(HostReportError) as info:
        report.loads('{"schema": "vmplatform/host-report/1", "host": 3}', "r.json")
    err = info.value
    assert isinstance(err, FileFormatError)
    assert (err.source, err.place, err.problem) == ("r.json", "host", "must be an object, not an integer")
    assert err.message == "r.json: host: must be an object, not an integer"


def test_a_domain_xml_error_names_its_source() -> None:
    with pytest.raises(DomainXmlError) as info:
        _xml.parse("<network/>", "d.xml")
    err = info.value
    assert isinstance(err, FileFormatError)
    assert (err.source, err.place) == ("d.xml", "")
    assert err.problem == "not a libvirt domain XML (root element <network>)"
    assert err.message == f"d.xml: {err.problem}"


def test_a_data_file_error_puts_the_line_before_the_place() -> None:
    err = DataFileError("p.toml", "features", "must be a table", line=7)
    assert isinstance(err, FileFormatError)
    assert (err.path, err.source, err.line) == ("p.toml", "p.toml", 7)
    assert err.message == "p.toml:7: features: must be a table"
    assert err.hint
