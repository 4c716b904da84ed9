"""A test that uses a resource carries its marker (tests/harness/usage.py), and a marked test is
skipped with the reason tests/harness/requirements.py gives when the resource is missing."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.harness import requirements
from tests.harness.usage import Tracker

ROOT = Path(__file__).parents[2]
QEMU = "/usr/bin/qemu-system-x86_64"


def _popen(tracker: Tracker, argv: list[str]) -> None:
    tracker.audit("subprocess.Popen", (argv[0], argv, None, None))


def test_a_test_launching_qemu_without_the_marker_is_caught(tmp_path: Path) -> None:
    t = Tracker()
    t.start([])
    _popen(t, [QEMU, "-S", "-accel", "tcg"])
    assert set(t.stop()) == {"qemu"}
    t.start(["qemu"])
    _popen(t, [QEMU, "-S", "-accel", "tcg"])
    assert t.stop() == {}
    t.start(["guest"])   # a guest test launches QEMU, as its marker says
    _popen(t, [QEMU, "-S"])
    assert t.stop() == {}


def test_a_stand_in_binary_and_the_machine_type_import_are_not_a_qemu(tmp_path: Path) -> None:
    t = Tracker()
    t.start([])
    _popen(t, [str(tmp_path / "qemu-system-x86_64"), "-S"])
    _popen(t, [QEMU, "-machine", "none", "-nodefaults", "-display", "none", "-S"])
    assert t.stop() == {}


def test_asking_for_root_without_the_marker_is_caught() -> None:
    t = Tracker()
    t.start(["qemu"])
    t.used("root", "asked for missing_root()")
    assert set(t.stop()) == {"root"}


def test_every_marker_is_declared_and_has_its_checks() -> None:
    pytest_ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    declared = {m.split(":", 1)[0] for m in pytest_ini["markers"]}
    assert set(requirements.MARKERS) <= declared
    assert {"root", "qemu", "guest", "postgres", "libvirtd", "chromium", "placement", "kernels"} <= declared
    assert declared - set(requirements.MARKERS) == {"e2e"}   # the former name of guest


def test_the_skip_reason_names_what_is_missing_and_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VMPLATFORM_QEMU", "/nonexistent/qemu-system-x86_64")
    reasons = requirements.unmet(["qemu"])
    assert reasons == ["no qemu-system-x86_64 (VMPLATFORM_QEMU=/nonexistent/qemu-system-x86_64 is not executable): "
                       "install qemu-system-x86 from bookworm-backports (run scripts/setup-host as root)"]
