"""``vmplatform-libvirt-hook``: libvirt's ``/etc/libvirt/hooks/qemu``.

libvirt runs the hook as ``qemu GUEST OPERATION SUB-OPERATION EXTRA`` with
the full domain XML on stdin (libvirt docs/hooks.rst, "Script arguments").
For a domain whose ``<metadata>`` holds a vmplatform manifest:

* ``prepare begin`` and ``start begin`` (a domain start, and the destination
  side of an incoming migration): refuse when this host cannot satisfy the
  manifest - exit status 1 and the reason on stderr, which libvirt logs and
  reports ("Hook script execution failed: ... unexpected exit status 1: ...");
* ``migrate begin`` (the first call on the destination of an incoming
  migration; the hook is a filter there, its stdout is the new domain XML):
  refuse likewise, and refuse a VM whose manifest says it is not migratable
  (scope ``host``); else write the XML unchanged to stdout.

In all three, also refuse a domain whose XML no longer carries the
manifest's pinned properties (an ``<qemu:override>`` removed, an interface
``<driver><host/><guest/>`` attribute changed): libvirt starts QEMU from the
XML alone, which would decide those properties again from its defaults
(:mod:`vmplatform.libvirt.drift`).

Every other operation, and every domain without a manifest, passes: exit 0,
and only ``migrate`` writes the XML back (``restore`` is a filter too, where
empty output means "unchanged").

The host is probed at each call (real ioctls, about 20 ms), unless
``VMPLATFORM_HOST_REPORT`` names a report file. libvirt passes hooks only a
fixed environment (LC_ALL, PATH, HOME, ...), so set that variable from a
wrapper script installed as the hook. ``VMPLATFORM_MACHINE_CATALOG``
(optional) names the machine catalog of this host's QEMU, to catch machine
types whose compat props changed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the hook imports nothing heavy for operations it does not check
    from ..machines import MachineCatalog
    from ..manifest import Manifest
    from ..platforms import PlatformSet
    from ..report import HostReport

REFUSING = {("prepare", "begin"): "start", ("start", "begin"): "start", ("migrate", "begin"): "receive"}
HOST_REPORT_ENV = "VMPLATFORM_HOST_REPORT"
MACHINE_CATALOG_ENV = "VMPLATFORM_MACHINE_CATALOG"
PROG = "vmplatform-libvirt-hook"


def _report_and_catalog() -> tuple["HostReport", "MachineCatalog | None"]:
    from ..features import default_catalog
    from ..machines import load_machine_catalog
    from ..report import loads

    path = os.environ.get(HOST_REPORT_ENV)
    if path:
        from ..errors import HostReportError

        try:
            report = loads(Path(path).read_text(encoding="utf-8"), path)
        except OSError as err:
            raise HostReportError(f"{path} ({HOST_REPORT_ENV}): cannot read host report: {err.strerror}",
                                  "point it at a file written by 'vmplatform probe --json', or unset it to "
                                  "probe this host") from err
    else:
        from ..probe.linux import LinuxProbe

        report = LinuxProbe().run(default_catalog())
    mc_path = os.environ.get(MACHINE_CATALOG_ENV)
    return report, (load_machine_catalog(Path(mc_path)) if mc_path else None)


def _scope_args(manifest: "Manifest") -> str:
    """The 'vmplatform libvirt pin' options that pin to the manifest's scope again."""
    kind = manifest.scope.value
    if kind == "platform" and manifest.platform:
        return f"--platform {manifest.platform}"
    if kind in ("hosts", "anywhere"):
        return f"--scope {kind} --hosts REPORT..."
    return f"--scope {kind}"


def decide(name: str, operation: str, sub_operation: str, xml: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) for one hook call."""
    passthrough = xml if operation == "migrate" else ""
    action = REFUSING.get((operation, sub_operation))
    if action is None:
        return 0, passthrough, ""
    from ..errors import VmplatformError
    from ..manifest import check_manifest
    from ..platforms import load_platforms
    from .drift import domain_drift
    from .metadata import manifest_of

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
        drift = domain_drift(xml, source, manifest, report, platforms, mc) if verdict.result.ok else []
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


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    xml = sys.stdin.read()  # always drain: libvirt writes the whole domain XML
    if len(args) < 3:
        print(f"{PROG}: usage: {PROG} GUEST OPERATION SUB-OPERATION [EXTRA] (domain XML on stdin); "
              "install it as /etc/libvirt/hooks/qemu", file=sys.stderr)
        return 2
    rc, out, err = decide(args[0], args[1], args[2], xml)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


if __name__ == "__main__":
    sys.exit(main())
