"""Golden-file tests: every CLI invocation's exit code, stdout and stderr.

The cases are data: golden/cases.toml (argv, host report, environment, and
what each case shows), each with its output golden/NAME.txt.

A mismatch fails with a unified diff. To accept new output on purpose:

    VMPLATFORM_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/cli/test_golden.py

then review the diff of tests/cli/golden/ like any other change. A missing
golden file is a failure, never silently created.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_cli
from vmplatform.model._toml import DATA_DIR

HERE = Path(__file__).parent
CASES_DIR = HERE / "golden"
DATA = HERE.parent / "data"
HOSTS = DATA / "hosts"
REPO = HERE.parent.parent
REGEN = os.environ.get("VMPLATFORM_REGEN_GOLDEN") == "1"


CASE_FILE = CASES_DIR / "cases.toml"
CASE_KEYS = {"shows", "argv", "host", "env"}


@dataclass(frozen=True)
class Case:
    shows: str
    argv: list[str]
    env: dict[str, str]


def _load_cases() -> dict[str, Case]:
    """golden/cases.toml, its placeholders filled in: "{host}" (the report ``host`` names) and "{data}"."""
    cases: dict[str, Case] = {}
    for name, table in tomllib.loads(CASE_FILE.read_text(encoding="utf-8")).items():
        unknown = set(table) - CASE_KEYS
        assert not unknown, f"{CASE_FILE.name} [{name}]: unknown keys {sorted(unknown)}"
        assert table.get("shows"), f"{CASE_FILE.name} [{name}]: say what the case shows ('shows = ...')"
        host = str(HOSTS / f"{table['host']}.json") if "host" in table else None
        argv = []
        for arg in table["argv"]:
            if "{host}" in arg:
                assert host, f"{CASE_FILE.name} [{name}]: argv uses {{host}} but the case names no host"
                arg = arg.replace("{host}", host)
            argv.append(arg.replace("{data}", str(DATA)))
        cases[name] = Case(table["shows"], argv, dict(table.get("env", {})))
    return cases


CASE_TABLE = _load_cases()
CASES: dict[str, list[str]] = {name: case.argv for name, case in CASE_TABLE.items()}


def _normalise(text: str) -> str:
    return text.replace(str(DATA_DIR), "<data>").replace(str(REPO), "<repo>")


def _render(argv: list[str], env: dict[str, str]) -> str:
    rc, out, err = run_cli(argv, env=env or None)
    shown = " ".join(_normalise(a) for a in argv)
    return _normalise(f"$ vmplatform {shown}\nexit: {rc}\n--- stdout\n{out}--- stderr\n{err}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_golden(name: str) -> None:
    case = CASE_TABLE[name]
    got = _render(case.argv, case.env)
    path = CASES_DIR / f"{name}.txt"
    if REGEN:
        path.write_text(got)
        return
    if not path.exists():
        pytest.fail(f"no golden file {path.relative_to(REPO)}; create it with VMPLATFORM_REGEN_GOLDEN=1 "
                    "and review it")
    want = path.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            f"golden/{name}.txt", "actual"))
        pytest.fail(f"CLI output changed for {name}:\n{diff}")


def test_every_golden_file_has_a_case() -> None:
    stale = sorted(p.stem for p in CASES_DIR.glob("*.txt") if p.stem not in CASES)
    assert not stale, f"golden files without a case (delete them): {stale}"
