"""``vmplatform-qemu``: the front-end as a libvirt domain's ``<emulator>``.

A domain gets ``-platform`` without any change to libvirt by naming this
program in ``<devices><emulator>``. libvirt runs its emulator in two ways
(seen with libvirtd 11.3, see tests/libvirt/test_libvirt_daemon.py):

* capability probing, before any domain starts and again whenever the binary
  changes: ``-S -no-user-config -nodefaults -nographic -machine
  none,accel=kvm:tcg -qmp unix:...,server=on,wait=off -pidfile ... -daemonize``
  (and once more with ``accel=tcg``); libvirt caches what QMP answers. No
  ``-name guest=``: passed to the real QEMU untouched, so libvirt sees exactly
  that QEMU's capabilities;
* a domain start: ``-name guest=NAME,debug-threads=on ... -uuid UUID ...``
  with the TAP and vhost file descriptors already open, as the unprivileged
  QEMU user. The platform comes from the domain's manifest in ``<metadata>``,
  handed over by the hook (:mod:`.record`): its platform name, or exactly its
  recorded platform features for merged and ``host`` scopes; a domain without a
  manifest gets this host's default platform, as ``vmplatform qemu`` does
  without ``-platform``. ``-platform`` in the domain's ``<qemu:commandline>``
  wins over both. The argv is then pinned and checked exactly as ``vmplatform
  qemu`` does (:func:`vmplatform.qemu.frontend.rewrite`), and the real QEMU is
  exec'd in this process, so the descriptors libvirt passed stay open.

A refusal is a message on stderr and exit status 1: libvirt copies QEMU's
stderr into the domain log and reports its end in ``virsh start``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

PROG = "vmplatform-qemu"


def _option(argv: Sequence[str], name: str) -> str | None:
    """The value of QEMU option ``name``, read as QEMU reads its argv (:func:`vmplatform.qemu.argv.options`);
    None when absent, or when the argv is not one QEMU reads (QEMU then says why)."""
    from vmplatform.errors import UsageError
    from vmplatform.qemu.argv import option_value

    try:
        return option_value(argv, name)
    except UsageError:
        return None


def guest_name(argv: Sequence[str]) -> str | None:
    """NAME of ``-name guest=NAME,...`` (libvirt's form), None when absent."""
    value = _option(argv, "-name")
    if value is None:
        return None
    for part in value.split(","):
        if part.startswith("guest="):
            return part[len("guest="):]
    return None


def _real_qemu(configured: str | None = None) -> str:
    from vmplatform.qemu.binary import find_qemu

    return find_qemu(configured or None)


def _exec(binary: str, argv: Sequence[str]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary, *argv])
    return 127  # not reached


def plan(argv: Sequence[str]) -> tuple[str, list[str], list[str]]:
    """(QEMU binary, its argv, notes) for a domain start; raises VmplatformError to refuse."""
    from vmplatform.errors import VmplatformError
    from vmplatform.libvirt import record
    from vmplatform.libvirt.metadata import manifest_platform
    from vmplatform.model.platforms import Platform, load_platforms
    from vmplatform.qemu.frontend import rewrite
    from vmplatform.resolution.manifest import Scope

    name = guest_name(argv) or "?"
    uuid = _option(argv, "-uuid")
    start = record.read(uuid) if uuid else None
    if start is None:
        raise VmplatformError(f"no start record for domain {name} (uuid {uuid}): the vmplatform hook did not "
                              "admit it", "install vmplatform-libvirt-hook as /etc/libvirt/hooks/qemu and "
                              "restart libvirtd: it hands this program the domain's platform and this host's "
                              "report")
    platforms = load_platforms()
    platform: Platform | None = None
    notes: list[str] = []
    m = start.manifest
    has_platform_arg = _option(argv, "-platform") is not None
    if m is not None and not has_platform_arg:
        platform = manifest_platform(m, platforms, name)
        if m.scope is Scope.HOST:
            notes.append(f"domain {name}: scope host, pinned to what {m.analysed_on or 'its host'} offered")
    qemu = start.qemu or _real_qemu()
    mc = record.machine_catalog(qemu)
    rw = rewrite(list(argv), mc=mc, platforms=platforms, report=start.report, platform=platform)
    if m is not None:
        from vmplatform.libvirt.drift import pin_drift

        drift = pin_drift(m, rw.resolution)
        if drift:  # the XML (or -platform) asks for other values than the domain was created with
            raise VmplatformError(f"QEMU would not get the values of domain {name}'s manifest: {'; '.join(drift)}",
                                  "re-create the manifest ('vmplatform libvirt pin'), or drop the conflicting "
                                  "values from the domain XML")
    return qemu, rw.argv, notes + list(rw.notes)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if guest_name(args) is None:
        # capability probing (-machine none + QMP), -version, help: the real QEMU answers
        return _exec(_real_qemu(), args)
    from vmplatform.errors import VmplatformError

    try:
        binary, qemu_argv, notes = plan(args)
    except VmplatformError as err:
        print(f"{PROG}: refusing to start domain {guest_name(args)}: {err}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"{PROG}: {note}", file=sys.stderr)
    return _exec(binary, qemu_argv)


if __name__ == "__main__":
    sys.exit(main())
