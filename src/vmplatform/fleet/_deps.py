"""One place that says which extra is missing, instead of an ImportError traceback."""

from __future__ import annotations

from vmplatform.errors import VmplatformError


class FleetDependencyError(VmplatformError):
    """The ``fleet`` extra is not installed."""


def require(module: str) -> None:
    """Raise a clear error when ``module`` (part of the ``fleet`` extra) cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise FleetDependencyError(
            f"the fleet commands need the Python package '{module}', which is not installed",
            "install the fleet extra: pip install 'vmplatform[fleet]'")
