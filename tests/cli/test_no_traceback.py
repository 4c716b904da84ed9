"""Pathological input is an error with a sentence and a non-zero exit, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

DEPTH = 100_000


def _deep_array(tmp_path: Path) -> Path:
    path = tmp_path / "deep.json"
    path.write_text("[" * DEPTH + "]" * DEPTH)
    return path


def _deep_object(tmp_path: Path) -> Path:
    path = tmp_path / "deep-object.json"
    path.write_text('{"a":' * DEPTH + "1" + "}" * DEPTH)
    return path


@pytest.mark.parametrize("make", [_deep_array, _deep_object])
@pytest.mark.parametrize("argv", [
    ["query-platforms", "--host", "{f}"],
    ["resolve", "-M", "pc-q35-10.0", "-P", "linux-6.1", "--host", "{f}"],
    ["check", "--manifest", "{f}", "--host", "{f}"],
    ["resolve", "-M", "pc-q35-10.0", "-P", "linux-6.1", "--no-host-check", "--machine-catalog", "{f}"],
])
def test_deeply_nested_json_is_a_clear_error(cli: Callable[..., CliResult], tmp_path: Path,
                                             make: Callable[[Path], Path], argv: list[str]) -> None:
    path = make(tmp_path)
    rc, out, err = cli([a.replace("{f}", str(path)) for a in argv])
    assert rc == 1
    assert "Traceback" not in err
    assert f"{path}" in err and "nested too deeply" in err


def test_a_bug_is_reported_without_a_traceback(cli: Callable[..., CliResult],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import vmplatform.cli.features as features

    def broken(ns: object) -> int:
        raise KeyError("planted")

    monkeypatch.setattr(features, "run", broken)
    rc, out, err = cli(["features", "--json"])
    assert rc == 70
    assert "internal error: KeyError" in err and "VMPLATFORM_DEBUG=1" in err
    assert '"class": "GenericError"' in out


def test_every_command_takes_json(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """The README promises --json on every command: analyze's manifest is JSON either way."""
    argv = ["analyze", "--host", str(Path(__file__).parents[1] / "data/hosts/debian13-6.12.json"),
            "--json", "--", "-machine", "pc-q35-10.0", "-netdev", "user,id=n0",
            "-device", "virtio-net-pci,netdev=n0"]
    rc, out, err = cli(argv)
    assert rc == 0, err
    rc2, out2, _ = cli([a for a in argv if a != "--json"])
    assert out == out2 and out.startswith("{")
