"""Analyse a VM on a host for a migration scope: the API behind ``vmplatform analyze``.

The scope decides the platform the VM's properties are pinned to:

* ``host``     everything this host offers (a synthetic platform; the VM is
               not migratable);
* ``hosts``    the merge of the reports of a named set of hosts;
* ``platform`` a named platform (or the argv's ``-platform``, else this
               host's default);
* ``anywhere`` the merge over a whole fleet. There is no fleet inventory
               store yet, so the fleet is given as reports (typically a
               directory of them), exactly as for ``hosts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vmplatform.errors import UsageError
from vmplatform.resolution.manifest import Manifest, Scope, from_resolution, host_platform, require_usable

if TYPE_CHECKING:
    from vmplatform.model.machines import MachineCatalog
    from vmplatform.model.platforms import Platform, PlatformSet
    from vmplatform.model.report import HostReport
    from vmplatform.qemu.frontend import Rewrite


def scope_platform(scope: Scope, report: HostReport, platforms: PlatformSet, *,
                   fleet: Sequence[HostReport] = (), platform: Platform | None = None) -> Platform | None:
    """The platform for ``scope`` (None: the argv's -platform, else the host's default)."""
    from vmplatform.resolution.merge import merged_platform

    if platform is not None and scope is not Scope.PLATFORM:
        raise UsageError(f"--platform is for --scope platform, not --scope {scope.value}",
                         "drop --platform, or use --scope platform")
    if fleet and scope not in (Scope.HOSTS, Scope.ANYWHERE):
        raise UsageError(f"--hosts is for --scope hosts or anywhere, not --scope {scope.value}",
                         "drop --hosts, or use --scope hosts")
    if scope is Scope.HOST:
        return host_platform(report, platforms)
    if scope in (Scope.HOSTS, Scope.ANYWHERE):
        if not fleet:
            what = "REPORT..." if scope is Scope.HOSTS else "DIR (a directory of host reports)"
            raise UsageError(f"--scope {scope.value} needs --hosts {what}",
                             "write the reports with 'vmplatform probe --json' on each host")
        return merged_platform(fleet, platforms)
    return platform


def analyze(argv: Sequence[str], *, mc: MachineCatalog, platforms: PlatformSet, report: HostReport,
            scope: Scope = Scope.PLATFORM, fleet: Sequence[HostReport] = (),
            platform: Platform | None = None) -> tuple[Rewrite, Manifest]:
    """Resolve QEMU's ``argv`` on the host of ``report`` for ``scope`` and build the manifest.

    Raises :class:`~vmplatform.errors.HostLacksFeatures` when this host
    cannot run the VM so resolved, and UsageError for a bad argv or scope.
    """
    from vmplatform.qemu.frontend import rewrite

    chosen = scope_platform(scope, report, platforms, fleet=fleet, platform=platform)
    rw = rewrite(argv, mc=mc, platforms=platforms, report=report, platform=chosen)
    require_usable(rw.resolution, report, platforms)
    hosts = sorted(r.name for r in fleet)
    return rw, from_resolution(rw.resolution, rw.platform, scope, report, hosts)
