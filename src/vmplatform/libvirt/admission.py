"""The decision of the libvirt ``qemu`` hook for the operations it guards
(``prepare begin``, ``start begin``, ``migrate begin``): can this host start
or receive the domain, and does its XML still carry its pins. The entry point,
:mod:`.hook`, imports this module only for those operations, so the many
events libvirt merely announces cost a bare interpreter start.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vmplatform.errors import HostReportError, VmplatformError
from vmplatform.libvirt.hook import EMULATOR_NAME, HOST_REPORT_ENV, MACHINE_CATALOG_ENV, PROG, REFUSING
from vmplatform.libvirt.metadata import manifest_of
from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import HostReport, loads
from vmplatform.resolution.manifest import Manifest, Scope, check_manifest

# What the decision needs is the manifest, the host report and the packaged platforms (compiled at
# build time). The domain's drift from its pins needs the whole resolution machinery: imported only
# for a domain the host can run (tests/cli/test_hot_imports.py holds a refused start to that).
if TYPE_CHECKING:
    from vmplatform.model.machines import MachineCatalog


def _report_and_catalog() -> tuple[HostReport, MachineCatalog | None]:
    path = os.environ.get(HOST_REPORT_ENV)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                report = loads(fh.read(), path)
        except OSError as err:
            raise HostReportError(f"{path} ({HOST_REPORT_ENV})", "", f"cannot read host report: {err.strerror}",
                                  hint="point it at a file written by 'vmplatform probe --json', or unset it to "
                                  "probe this host") from err
    else:
        from vmplatform.probe.cache import cached_probe

        # The per-boot cache (written by 'vmplatform probe', e.g. at boot) is keyed on everything
        # that changes the answer, so a start need not pay for a fresh TAP; the hook itself
        # writes nothing.
        catalog = default_catalog()
        report = cached_probe(catalog, lambda: _probe(), write=False)
    mc_path = os.environ.get(MACHINE_CATALOG_ENV)
    if not mc_path:
        return report, None
    from pathlib import Path

    from vmplatform.model.machines import load_machine_catalog

    return report, load_machine_catalog(Path(mc_path))


def _probe() -> HostReport:
    from vmplatform.probe.linux import LinuxProbe

    return LinuxProbe().run(default_catalog())


def _scope_args(manifest: Manifest) -> str:
    """The 'vmplatform libvirt pin' options that pin to the manifest's scope again."""
    scope = manifest.scope
    if scope is Scope.PLATFORM and manifest.platform:
        return f"--platform {manifest.platform}"
    if scope in (Scope.HOSTS, Scope.ANYWHERE):
        return f"--scope {scope.value} --hosts REPORT..."
    return f"--scope {scope.value}"


def decide(name: str, operation: str, sub_operation: str, xml: str, *,
           pinned_by_emulator: bool = False) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) for one hook call. ``pinned_by_emulator``: the domain's
    ``<emulator>`` is vmplatform-qemu, which pins the manifest's platform itself (and refuses what
    differs from the manifest), so the XML need not carry the pins."""
    passthrough = xml if operation == "migrate" else ""
    action = REFUSING.get((operation, sub_operation))
    if action is None:
        return 0, passthrough, ""
    source = f"domain {name}"
    try:
        manifest = manifest_of(xml, source)
        if manifest is None:
            return 0, passthrough, ""
        if operation == "migrate" and not manifest.migratable:
            return 1, "", (f"{PROG}: refusing to receive the incoming migration of domain {name}: it was created "
                           f"with scope host on {manifest.analysed_on or 'its first host'} and is not migratable\n"
                           "  hint: recreate it with a migratable scope (vmplatform analyze --scope platform, "
                           "hosts or anywhere)\n")
        report, mc = _report_and_catalog()
        platforms = load_platforms()
        verdict = check_manifest(manifest, report, platforms, mc)
        drift: list[str] = []
        if verdict.result.ok and not pinned_by_emulator:
            from vmplatform.libvirt.drift import domain_drift

            drift = domain_drift(xml, source, manifest, report, platforms, mc)
    except VmplatformError as err:
        return 1, "", f"{PROG}: refusing to {action} domain {name}: {err}\n"
    what = "start" if action == "start" else "receive the incoming migration of"
    if not verdict.result.ok:
        return 1, "", (f"{PROG}: refusing to {what} domain {name}: {verdict.result.value}: {verdict.message}\n"
                       "  hint: run it on a host that has these features, or recreate the VM with a platform "
                       "this host supports ('vmplatform query-platforms')\n")
    if drift:
        return 1, "", (f"{PROG}: refusing to {what} domain {name}: domain {name} no longer carries its pinned "
                       f"properties: {'; '.join(drift)}\n"
                       f"  hint: re-pin it with 'vmplatform libvirt pin --domain-xml FILE {_scope_args(manifest)}' "
                       "(QEMU would otherwise decide these properties from its defaults: a different guest ABI)\n")
    return 0, passthrough, ""


def record_start(name: str, xml: str) -> tuple[int, str]:
    """For a domain whose ``<emulator>`` is ``vmplatform-qemu``: write what that front-end needs
    (:mod:`.record`). (exit status, stderr): a record that cannot be written stops the start."""
    from vmplatform.libvirt import record
    from vmplatform.qemu.binary import find_qemu

    source = f"domain {name}"
    try:
        uuid = record.uuid_of(xml)
        if uuid is None:
            raise VmplatformError(f"{source}: no <uuid> in the domain XML libvirt passed")
        manifest = manifest_of(xml, source)
        report, _ = _report_and_catalog()
        qemu = find_qemu(None)
        record.machine_catalog(qemu)   # imported here (root), read by the unprivileged emulator
        record.write(name, uuid, manifest.to_json() if manifest is not None else None, report.to_json(), qemu)
    except (VmplatformError, OSError, ValueError) as err:
        return 1, f"{PROG}: refusing to start domain {name}: cannot hand it to {EMULATOR_NAME}: {err}\n"
    return 0, ""

