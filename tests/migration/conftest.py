"""Fixtures shared by the real-guest tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Timing = Callable[[str, float], None]


@pytest.fixture()
def timing(request: pytest.FixtureRequest) -> Timing:
    """Record a duration for whoever tunes CI timeouts.

    Printed (pytest -rP / -s) and kept as a user property. Not
    record_property: it warns (= errors here) under --junitxml with the
    default xunit2 family.
    """

    def record(key: str, seconds: float) -> None:
        print(f"{request.node.name}: {key}={seconds:.1f}s")
        request.node.user_properties.append((key, round(seconds, 1)))

    return record
