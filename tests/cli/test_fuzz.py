"""Every input format, fuzzed: bad input gets the project's own error, never a stray exception.

bench/fuzz_inputs.py runs the same generators 100,000 times per format; this
runs a few hundred per format on every test run, driven by Hypothesis so a
finding shrinks to the smallest random choice that reproduces it.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness.fuzz_inputs import formats, generate, judge

FORMATS = sorted(formats())


@pytest.mark.parametrize("name", FORMATS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(rng=st.randoms(use_true_random=False))
def test_bad_input_gets_our_own_error(name: str, rng: random.Random) -> None:
    fmt = formats()[name]
    text = generate(fmt, rng)
    outcome = judge(fmt, text)
    assert outcome.ok, f"{name}: {outcome.label}: {outcome.detail}\ninput: {text[:3000]!r}"


def test_the_generators_reach_both_sides() -> None:
    """A fuzzer that only ever produced errors (or only accepted input) would test one path."""
    for name in FORMATS:
        fmt = formats()[name]
        rng = random.Random(7)
        labels = {judge(fmt, generate(fmt, rng)).label for _ in range(60)}
        assert "accepted" in labels, name
        if fmt.raises_own_errors:
            assert labels - {"accepted"}, name


@pytest.mark.parametrize("name,text", [
    ("platform-file", '[[platform]]\nname = "x"\nremove = ' + "[" * 5000 + "]" * 5000 + "\n"),
    ("platform-file", "[[platform]]\nname = 'x'\nsource = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"),
    ("host-report", "[" * 100_000 + "]" * 100_000),
    ("manifest", '{"schema":' * 50_000 + "1" + "}" * 50_000),
    ("domain-xml", "<domain>" + "<a>" * 100_000 + "</a>" * 100_000 + "</domain>"),
    ("qemu-argv", '["-device", "' + '{\\"a\\":' * 5000 + '1' + '}' * 5000 + '"]'),
])
def test_nesting_beyond_any_parser(name: str, text: str) -> None:
    outcome = judge(formats()[name], text)
    assert outcome.ok and outcome.label != "accepted", f"{outcome.label}: {outcome.detail}"


def test_findings_stay_fixed() -> None:
    """Inputs bench/fuzz_inputs.py once found answered with a stray exception."""
    fmt = formats()["qemu-argv"]
    # A NUL in a -readconfig path: open() raised ValueError.
    outcome = judge(fmt, '["-machine", "q35", "-readconfig", "a\\u0000b.cfg"]')
    assert outcome.ok and outcome.label == "FileFormatError", outcome
    # A superscript digit in a release name: str.isdigit() took it, int() did not.
    outcome = judge(fmt, '["-machine", "q35", "-platform", "linux-6\\u00b91"]')
    assert outcome.ok and outcome.label == "UnknownNameError", outcome
