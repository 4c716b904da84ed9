"""``vmplatform qemu``'s own options: one parser, whatever follows them.

Our long options come first; from ``--`` or the first other token on, the argv
is QEMU's. The cases below once went through two parsers (a fast one, and
argparse when the fast one gave up) and must answer as they did then.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from vmplatform.model._toml import DATA_DIR

HOST = str(Path(__file__).parents[1] / "data" / "hosts" / "debian13-6.12.json")
CATALOG = str(DATA_DIR / "machines" / "qemu-10.0.2-x86_64.json")
OWN = ["--host", HOST, "--machine-catalog", CATALOG]
VM = ["-machine", "pc-q35-10.0", "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,id=net0"]


def _dry(*argv: str) -> list[str]:
    rc, out, err = run_cli(["qemu", *argv])
    assert rc == 0, err
    return out.splitlines()


@pytest.mark.parametrize("own", [
    ["--dry-run", *OWN],
    ["--dry-run", f"--host={HOST}", f"--machine-catalog={CATALOG}"],
    [*OWN, "--dry-run", "--"],
], ids=["separate-values", "equals", "double-dash"])
def test_spellings_of_our_options_give_the_same_argv(own: list[str]) -> None:
    assert _dry(*own, *VM) == _dry("--dry-run", *OWN, *VM)


def test_an_unknown_long_option_is_qemus() -> None:
    """QEMU takes --machine for -machine; the argv from it on is passed through."""
    out = _dry("--dry-run", *OWN, "--no-such-option", *VM)
    assert out[0] == "--no-such-option"


def test_a_value_is_taken_whatever_it_looks_like() -> None:
    rc, _, err = run_cli(["qemu", "--dry-run", "--host", "--help", *VM])
    assert rc == 1 and "--help: cannot read host report" in err, err


@pytest.mark.parametrize(("argv", "message"), [
    (["--dry-run", "--host"], "vmplatform qemu: argument --host: expected one argument"),
    (["--dry-run=yes", *OWN, *VM], "vmplatform qemu: argument --dry-run: ignored explicit argument 'yes'"),
])
def test_a_malformed_option_is_a_usage_error(argv: list[str], message: str) -> None:
    rc, out, err = run_cli(["qemu", *argv])
    assert (rc, out) == (2, "")
    assert err.splitlines() == [f"vmplatform: error: {message}", "  hint: see 'vmplatform qemu --help'"]


@pytest.mark.parametrize("argv", [["--dry-run", "--help", *VM], [*OWN, "--help"]])
def test_help_after_our_options_is_ours(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from vmplatform.cli import main

    try:
        rc = main(["qemu", *argv])
    except SystemExit as done:   # argparse's way to end after help: the process exits with its code
        rc = int(done.code or 0)
    out = capsys.readouterr().out
    assert rc == 0 and out.startswith("usage: vmplatform qemu ") and "--qemu-binary" in out
