"""Every golden CLI output holds the hand-written expectations of tests/cli/expectations.toml.

The golden files are compared byte for byte with live output (test_golden.py);
this test reads the same files and checks what they must *mean*: exit code,
lines that must be there, lines that must not. A golden file regenerated from a
wrong answer passes the byte comparison and fails here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CASES_DIR = HERE / "golden"
EXPECTATIONS = tomllib.loads((HERE / "expectations.toml").read_text())["case"]


@dataclass(frozen=True)
class Golden:
    exit: int
    stdout: str
    stderr: str

    @classmethod
    def read(cls, path: Path) -> Golden:
        text = path.read_text()
        exit_line = re.search(r"^exit: (-?\d+)$", text, re.M)
        assert exit_line, f"{path.name}: no 'exit:' line"
        out, _, err = text.partition("\n--- stderr\n")
        return cls(int(exit_line.group(1)), out.partition("\n--- stdout\n")[2], err)


def test_every_golden_file_has_expectations_and_every_expectation_a_file() -> None:
    files = {p.stem for p in CASES_DIR.glob("*.txt")}
    assert files - set(EXPECTATIONS) == set(), "golden files without expectations in expectations.toml"
    assert set(EXPECTATIONS) - files == set(), "expectations for golden files that do not exist"


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_golden_output_meets_its_expectations(name: str) -> None:
    want = EXPECTATIONS[name]
    got = Golden.read(CASES_DIR / f"{name}.txt")
    assert want.get("why"), f"{name}: say why the expectation holds"
    assert want.get("stdout") or want.get("stderr"), f"{name}: expect at least one pattern"
    assert got.exit == want["exit"], f"{name}: exit {got.exit}, expected {want['exit']}"
    for stream in ("stdout", "stderr"):
        for pattern in want.get(stream, []):
            assert re.search(pattern, getattr(got, stream), re.M), f"{name}: {stream} lacks /{pattern}/"
    for pattern in want.get("absent", []):
        assert not re.search(pattern, got.stdout + got.stderr, re.M), f"{name}: output has /{pattern}/"
