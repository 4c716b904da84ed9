"""The probe interface."""

from __future__ import annotations

from typing import Protocol

from vmplatform.model.features import Catalog
from vmplatform.model.report import HostReport


class Prober(Protocol):
    """Anything that turns a catalog into a host report (real host, fake host)."""

    def run(self, catalog: Catalog) -> HostReport:
        """Probe every catalog feature. Never raises for a missing feature."""
        ...
