"""``vmplatform qemu [OPTIONS] [QEMU ARGS ...]``: QEMU with ``-platform``.

Our own options come first and are long (``--qemu-binary``); everything from
the first other argument on is QEMU's argv, passed through byte for byte
except ``-platform`` and the appended pins.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import argparse

    from vmplatform.model.accel import Accel

OWN = ("--qemu-binary", "--host", "--platform-dir", "--machine-catalog")
OWN_FLAGS = ("--dry-run",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--qemu-binary", help="QEMU to exec (default: $VMPLATFORM_QEMU, else qemu-system-x86_64)")
    p.add_argument("--host", metavar="REPORT.json", help="use this host report instead of probing")
    p.add_argument("--platform-dir", action="append", type=Path, default=[], metavar="DIR")
    p.add_argument("--machine-catalog", type=Path,
                   help="machine catalog (default: the one of the QEMU binary that runs, "
                        "imported on first use and cached per binary version)")
    p.add_argument("--dry-run", action="store_true", help="print the QEMU argv, one argument per line; do not exec")
    p.add_argument("qemu_args", nargs="*", metavar="QEMU-ARG",
                   help="QEMU's own arguments, plus -platform NAME|FILE|help")


def run_argv(argv: list[str]) -> int:
    """The one parser of ``vmplatform qemu`` (argparse would cost start-up time, and cannot tell where
    QEMU's argv begins): our long options first, then from ``--`` or the first other token, QEMU's argv.

    An option's value is the next token, whatever it is. ``--help`` prints our help; an unknown long
    option is QEMU's (QEMU takes ``--machine`` for ``-machine``), as is ``-h`` after our options.
    """
    ns = SimpleNamespace(qemu_binary=None, host=None, platform_dir=[], machine_catalog=None, dry_run=False)
    i = 0
    while i < len(argv):
        tok = argv[i]
        key, eq, val = tok.partition("=")
        if tok == "--":
            i += 1
            break
        if tok == "--help":
            return _print_help()
        if key in OWN_FLAGS:
            if eq:
                _usage(f"argument {key}: ignored explicit argument '{val}'")
            setattr(ns, key[2:].replace("-", "_"), True)
        elif key in OWN:
            if not eq:
                if i + 1 >= len(argv):
                    _usage(f"argument {key}: expected one argument")
                i += 1
                val = argv[i]
            attr = key[2:].replace("-", "_")
            if attr == "platform_dir":
                ns.platform_dir.append(Path(val))
            elif attr == "machine_catalog":
                ns.machine_catalog = Path(val)
            else:
                setattr(ns, attr, val)
        else:
            break
        i += 1
    ns.qemu_args = argv[i:]
    return run(ns)  # type: ignore[arg-type]


PROG = "vmplatform qemu"


def _usage(message: str) -> NoReturn:
    from vmplatform.errors import UsageError

    raise UsageError(f"{PROG}: {message}", f"see '{PROG} --help'")


def _print_help() -> int:
    from vmplatform.cli import COMMANDS
    from vmplatform.cli._parser import Parser

    p = Parser(prog=PROG, description=COMMANDS["qemu"][1])
    add_arguments(p)
    p.print_help()
    return 0


def run(ns: argparse.Namespace) -> int:
    from vmplatform.cli._common import host_report
    from vmplatform.model.platforms import load_platforms, platform_from_spec
    from vmplatform.qemu.argv import is_help_request
    from vmplatform.qemu.binary import find_qemu, machine_catalog_of
    from vmplatform.qemu.frontend import platform_help, rewrite
    from vmplatform.qemu.platform_record import recorded_in_argv, require_explicit_platform, with_record
    from vmplatform.resolution.support import evaluate

    args = list(ns.qemu_args)
    if args[:1] == ["--"]:
        args = args[1:]
    platforms = load_platforms(ns.platform_dir)
    if _platform_value(args) in ("help", "?"):
        print(platform_help(evaluate(host_report(ns), platforms, _help_accel(args))))
        return 0
    if is_help_request(args):
        # -version, -machine help, -device help, ...: QEMU answers and exits; nothing to pin
        return _exec(ns, find_qemu(ns.qemu_binary), _without_platform(args))
    report = host_report(ns)
    if ns.machine_catalog:
        from vmplatform.model.machines import load_machine_catalog

        mc = load_machine_catalog(ns.machine_catalog)
        binary = None
    else:
        # the QEMU that runs decides its machine types and properties
        binary = find_qemu(ns.qemu_binary)
        mc = machine_catalog_of(binary)
    # The platform travels with the VM: an -incoming VM names its source's, and the
    # one in effect is recorded in the VM for QMP readers (vmplatform.qemu.platform_record).
    require_explicit_platform(args, _platform_value(args))
    recorded = recorded_in_argv(args)
    platform = platform_from_spec(recorded, platforms)[0] if recorded and _platform_value(args) is None else None
    rw = rewrite(args, mc=mc, platforms=platforms, report=report, platform=platform)
    for note in rw.notes:
        print(f"vmplatform: {note}", file=sys.stderr)
    return _exec(ns, binary or find_qemu(ns.qemu_binary), with_record(rw.argv, rw.platform.name))


def _exec(ns: argparse.Namespace, binary: str | None, argv: list[str]) -> int:
    if ns.dry_run:
        print("\n".join(argv))
        return 0
    assert binary is not None
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary, *argv])
    return 127  # not reached


def _without_platform(args: list[str]) -> list[str]:
    from vmplatform.qemu.argv import without_option

    return without_option(args, "-platform")


def _platform_value(args: list[str]) -> str | None:
    from vmplatform.qemu.argv import option_value

    return option_value(args, "-platform")


def _help_accel(args: list[str]) -> Accel | None:
    """The accelerator named in the argv (for -platform help), else None: the host's."""
    from vmplatform.model.accel import Accel
    from vmplatform.qemu.argv import named_accel

    named = named_accel(args)
    return named if named in (Accel.KVM, Accel.TCG) else None
