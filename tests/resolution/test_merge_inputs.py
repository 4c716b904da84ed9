"""`vmplatform merge` inputs and the merged platform's own fields, over the host reports in
tests/data/hosts (probed 2026-01-01, except vm-debian12-6.18-pvm: a real probe of 2026-11-26)."""

from __future__ import annotations

import io
import shutil
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.harness.corpus import HOSTS, report
from vmplatform.errors import HostReportError, UsageError
from vmplatform.model.platforms import PlatformSet, load_platform_file
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.probe.fake import FakeHost
from vmplatform.records import replace
from vmplatform.resolution.merge import common_features, load_reports, merged_platform, platform_toml


def test_a_directory_gives_every_report_in_it_in_name_order() -> None:
    """tests/data/hosts holds seven reports and a script (make_corpus.py), which is not a report."""
    names = [r.name for r in load_reports([HOSTS])]
    assert names == ["debian12-6.1", "debian13-6.12", "el8-4.18", "el9-5.14", "ubuntu2204-5.15", "ubuntu2404-6.8",
                     "vm"]


def test_no_reports_at_all_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as exc:
        load_reports([tmp_path])   # an empty directory
    assert (exc.value.message, exc.value.hint) == (
        "no host reports given", "pass REPORT.json files, directories of them, or - for stdin")


def test_the_same_host_twice_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "again.json"
    shutil.copy(HOSTS / "el9-5.14.json", copy)
    with pytest.raises(UsageError) as exc:
        load_reports([HOSTS / "el9-5.14.json", HOSTS / "debian12-6.1.json", copy])
    assert (exc.value.message, exc.value.hint) == ("the same host appears twice: el9-5.14", "pass one report per host")


def test_an_unreadable_report_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.json"
    with pytest.raises(HostReportError) as exc:
        load_reports([missing])
    assert str(exc.value).startswith(f"{missing}: cannot read host report: No such file or directory")
    assert exc.value.hint == "pass files written by 'vmplatform probe --json'"


def test_concatenated_reports_with_blank_lines_and_a_broken_second_one(monkeypatch: pytest.MonkeyPatch) -> None:
    el9, ubuntu = (HOSTS / "el9-5.14.json").read_text(), (HOSTS / "ubuntu2404-6.8.json").read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"\n\n  {el9}\n\t\n{ubuntu}\n\n"))
    assert [r.name for r in load_reports([Path("-")])] == ["el9-5.14", "ubuntu2404-6.8"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(el9 + ubuntu[: len(ubuntu) // 2]))
    with pytest.raises(HostReportError) as exc:
        load_reports([Path("-")])
    assert str(exc.value).startswith("<stdin> (report 2)")


def test_a_file_may_hold_several_reports(tmp_path: Path) -> None:
    both = tmp_path / "both.json"
    both.write_text((HOSTS / "el8-4.18.json").read_text() + (HOSTS / "debian13-6.12.json").read_text())
    assert [r.name for r in load_reports([both])] == ["el8-4.18", "debian13-6.12"]


def test_a_name_outside_libvirts_charset_is_refused(platforms: PlatformSet) -> None:
    with pytest.raises(UsageError) as exc:
        merged_platform([report("el9-5.14")], platforms, "rack 12")
    assert (exc.value.message, exc.value.hint) == (
        "platform name 'rack 12' has characters outside [a-zA-Z0-9_.-]",
        "pick a name like 'merge-rack12' (libvirt's machine-name charset)")
    assert merged_platform([report("el9-5.14")], platforms, "rack-12.a_b").name == "rack-12.a_b"


def test_the_merged_platforms_fields(platforms: PlatformSet, tmp_path: Path) -> None:
    """Released is the newest probe date (the 2026-11-26 probe of vm beats 2026-01-01); the file
    written loads back as the same platform."""
    reports = [report("el9-5.14"), report("vm-debian12-6.18-pvm")]
    p = merged_platform(reports, platforms, "m")
    assert p.released == date(2026, 11, 26)
    assert (p.vendor, p.kernel, p.synthetic) == ("merge", "", True)
    assert p.description == "features common to 2 hosts: el9-5.14, vm"
    assert p.feature_sources == {f: "supported on all of: el9-5.14, vm" for f in p.features}
    path = tmp_path / "m.toml"
    path.write_text(platform_toml(p))
    loaded = load_platform_file(path, platforms)
    assert (loaded.name, loaded.description, loaded.vendor, loaded.released, loaded.kernel, loaded.features,
            loaded.source) == (p.name, p.description, p.vendor, p.released, p.kernel, p.features, "vmplatform merge")
    assert dict(loaded.feature_sources) == dict(p.feature_sources)


def test_reports_without_a_probe_date_are_dated_1970(platforms: PlatformSet) -> None:
    undated = FakeHost(hostname="a", supported=frozenset({"tap-vnet-hdr"})).run(platforms.catalog)
    assert merged_platform([replace(undated, probed_at="")], platforms).released == date(1970, 1, 1)
    assert merged_platform([replace(undated, probed_at="2026-13-45T00:00:00Z")], platforms).released == \
        date(1970, 1, 1)


def test_the_default_name_changes_with_the_hosts_and_with_the_features(platforms: PlatformSet) -> None:
    base = merged_platform([report("el9-5.14"), report("debian12-6.1")], platforms)
    other_hosts = merged_platform([report("el9-5.14"), report("el8-4.18")], platforms)
    # same hosts, fewer common features: debian12's report without its vnet header
    fewer = replace_status(report("debian12-6.1"), "tap-vnet-hdr")
    other_features = merged_platform([report("el9-5.14"), fewer], platforms)
    names = {base.name, other_hosts.name, other_features.name}
    assert len(names) == 3
    assert all(n.startswith("merge-") and len(n) == len("merge-") + 8 for n in names)


def replace_status(r: HostReport, feature: str) -> HostReport:
    """``r`` with ``feature`` unknown (as an unprivileged probe reports what it could not test)."""
    return replace(r, results=tuple(replace(x, status=FeatureStatus.UNKNOWN) if x.feature == feature else x
                                    for x in r.results))


def test_a_requirement_that_is_an_optional_device_does_not_drop_a_feature(platforms: PlatformSet) -> None:
    """vhost-net-ring-reset requires vhost-net, an optional device: a platform may promise ring reset
    without vhost-net (linux-6.3 does), so a merge keeps it. tap-uso requires tap-vnet-hdr, a kernel
    feature: dropped without it. (Synthetic reports: the shapes a merge must handle.)"""
    a = FakeHost(hostname="a", supported=frozenset({"tap-vnet-hdr", "tap-uso", "vhost-net-ring-reset"}))
    b = FakeHost(hostname="b", supported=frozenset({"tap-uso", "vhost-net-ring-reset", "vhost-net"}))
    assert "vhost-net" not in platforms.get("linux-6.3").features
    assert "vhost-net-ring-reset" in platforms.get("linux-6.3").features
    got = common_features([a.run(platforms.catalog), b.run(platforms.catalog)], platforms)
    assert got == frozenset({"vhost-net-ring-reset"})


def test_a_report_that_is_json_but_not_a_report_is_named_by_its_place(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    el9 = (HOSTS / "el9-5.14.json").read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(el9 + '\n{"schema": "vmplatform/manifest/1"}\n'))
    with pytest.raises(HostReportError) as exc:
        load_reports([Path("-")])
    assert str(exc.value).startswith("<stdin> (report 2): ")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(HostReportError) as exc:
        load_reports([bad])
    assert str(exc.value).startswith(f"{bad} (report 1): ")


def test_stdin_and_files_together_in_the_order_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO((HOSTS / "el9-5.14.json").read_text()))
    got = [r.name for r in load_reports([HOSTS / "el8-4.18.json", Path("-"), HOSTS / "debian12-6.1.json"])]
    assert got == ["el8-4.18", "el9-5.14", "debian12-6.1"]


def test_every_host_given_twice_is_named(tmp_path: Path) -> None:
    for name in ("el9-5.14", "el8-4.18"):
        shutil.copy(HOSTS / f"{name}.json", tmp_path / f"{name}-again.json")
    with pytest.raises(UsageError) as exc:
        load_reports([HOSTS / "el9-5.14.json", HOSTS / "el8-4.18.json", tmp_path])
    assert exc.value.message == "the same host appears twice: el8-4.18, el9-5.14"


def test_no_hosts_have_nothing_in_common(platforms: PlatformSet) -> None:
    assert common_features([], platforms) == frozenset()


def test_a_date_of_exactly_ten_characters_is_a_date(platforms: PlatformSet) -> None:
    r = FakeHost(hostname="a", supported=frozenset({"tap-vnet-hdr"})).run(platforms.catalog)
    assert merged_platform([replace(r, probed_at="2026-03-04")], platforms).released == date(2026, 3, 4)
    assert merged_platform([replace(r, probed_at="2026-03-04")], platforms).origin == "vmplatform merge"
