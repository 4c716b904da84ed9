"""Shared fixtures: a small stable catalog and platform set, a machine catalog
snapshot from a real QEMU, and helpers to run the CLI in-process."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.harness import exercised, requirements, usage
from vmplatform.model.features import Catalog, load_catalog
from vmplatform.model.machines import MachineCatalog, default_machine_catalog
from vmplatform.model.platforms import PlatformSet, load_platforms

DATA = Path(__file__).parent / "data"

# One probe cache per test run: a cache shared machine-wide would let one
# checkout's run read a report another checkout's code wrote.
_RUN_CACHE = tempfile.mkdtemp(prefix="vmplatform-test-cache-")
os.environ["VMPLATFORM_RUNTIME_DIR"] = _RUN_CACHE
# machine catalogs imported from the QEMU binary: once per test run, not per test
os.environ["VMPLATFORM_CACHE_DIR"] = os.path.join(_RUN_CACHE, "cache")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_RUN_CACHE, ignore_errors=True)


# Markers for what a test needs (declared in pyproject.toml, checked in tests/harness/requirements.py):
# a marked test skips, naming what is missing and how to get it; a test that uses a resource its
# markers do not declare fails (tests/harness/usage.py), so `-m "not guest and not qemu"` stays fast.
def pytest_configure(config: pytest.Config) -> None:
    usage.install()
    exercised.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The gate in tests/harness/exercised.py, on whole-suite runs only (scripts/test sets it)."""
    if os.environ.get(exercised.GATE_ENV) != "1":
        return
    from vmplatform.model.features import default_catalog

    found = exercised.gaps(default_catalog(), load_platforms(env={}, system=None), exercised.RECORD)
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(exercised.message(found), red=True)
        if exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:   # `e2e`, the guest marker's former name, still selects and deselects guest tests
        if item.get_closest_marker("e2e") and not item.get_closest_marker("guest"):
            item.add_marker(pytest.mark.guest)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> object:
    usage.TRACKER.start(m.name for m in item.iter_markers())
    reasons = requirements.unmet(m.name for m in item.iter_markers())
    if reasons:
        pytest.skip("; ".join(reasons))
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> object:
    result = yield
    undeclared = usage.TRACKER.stop()
    if undeclared:
        pytest.fail("this test uses what its markers do not declare: "
                    + "; ".join(f"{what} (mark it @pytest.mark.{marker})" for marker, what in undeclared.items()),
                    pytrace=False)
    return result

MINI = DATA / "mini"


@pytest.fixture(scope="session")
def mini_catalog() -> Catalog:
    return load_catalog(MINI / "features.toml")


@pytest.fixture(scope="session")
def mini_platforms(mini_catalog: Catalog) -> PlatformSet:
    return load_platforms([MINI / "platforms"], catalog=mini_catalog, env={}, system=None, packaged=False)


@pytest.fixture(scope="session")
def platforms() -> PlatformSet:
    """The packaged platforms, without the user's or the system's platform directories."""
    return load_platforms(env={}, system=None)


@pytest.fixture(scope="session")
def mc() -> MachineCatalog:
    """The packaged machine catalog snapshot."""
    return default_machine_catalog()


CliResult = tuple[int, str, str]


def run_cli(argv: Sequence[str], env: dict[str, str] | None = None) -> CliResult:
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from vmplatform.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = dict(os.environ)
    os.environ.pop("VMPLATFORM_PATH", None)
    if env:
        os.environ.update(env)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            rc = main(list(argv))
    finally:
        os.environ.clear()
        os.environ.update(old)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture()
def cli() -> Callable[..., CliResult]:
    return run_cli
