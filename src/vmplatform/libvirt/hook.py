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

For a domain whose ``<emulator>`` is ``vmplatform-qemu`` (the front-end), an
admitted ``prepare begin`` also writes the start record that program needs
(:mod:`.record`), and ``release end`` removes it.

The host is probed at each call (real ioctls, about 20 ms), unless
``VMPLATFORM_HOST_REPORT`` names a report file. libvirt passes hooks only a
fixed environment (LC_ALL, PATH, HOME, ...), so set that variable from a
wrapper script installed as the hook. ``VMPLATFORM_MACHINE_CATALOG``
(optional) names the machine catalog of this host's QEMU, to catch machine
types whose compat props changed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from vmplatform.libvirt.namespace import NAMESPACE

# (operation, sub-operation) -> what a refusal stops; everything else passes through.
REFUSING = {("prepare", "begin"): "start", ("start", "begin"): "start", ("migrate", "begin"): "receive"}
HOST_REPORT_ENV = "VMPLATFORM_HOST_REPORT"
MACHINE_CATALOG_ENV = "VMPLATFORM_MACHINE_CATALOG"
PROG = "vmplatform-libvirt-hook"
EMULATOR_NAME = "vmplatform-qemu"   # the <emulator> front-end (console script of this package)


def uses_emulator(xml: str) -> bool:
    """Is the domain's ``<emulator>`` vmplatform-qemu? (string search: no imports on the hot path)"""
    start = xml.find("<emulator>")
    end = xml.find("</emulator>", start)
    return start >= 0 and end > start and \
        xml[start + len("<emulator>"):end].strip().rsplit("/", 1)[-1] == EMULATOR_NAME


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    xml = sys.stdin.read()  # always drain: libvirt writes the whole domain XML
    if len(args) < 3:
        print(f"{PROG}: usage: {PROG} GUEST OPERATION SUB-OPERATION [EXTRA] (domain XML on stdin); "
              "install it as /etc/libvirt/hooks/qemu", file=sys.stderr)
        return 2
    op = (args[1], args[2])
    emulated = EMULATOR_NAME in xml and uses_emulator(xml)
    if op == ("release", "end"):
        if emulated:
            from vmplatform.libvirt.record import remove, uuid_of

            remove(uuid_of(xml) or "-")
        return 0
    if op not in REFUSING or NAMESPACE not in xml:
        # Not guarded, or no vmplatform manifest to hold the domain to: pass. migrate is a
        # filter whose stdout is the new XML; restore's empty output means "unchanged".
        rc, out, err = 0, (xml if args[1] == "migrate" else ""), ""
    else:
        from vmplatform.libvirt.admission import decide

        rc, out, err = decide(args[0], args[1], args[2], xml, pinned_by_emulator=emulated)
    if rc == 0 and emulated and op == ("prepare", "begin"):
        from vmplatform.libvirt.admission import record_start

        rc, err = record_start(args[0], xml)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


if __name__ == "__main__":
    sys.exit(main())
