"""The ``vmplatform`` command line: a thin layer over the Python API.

Each subcommand lives in its own module and is imported only when used, so
start-up stays close to a bare interpreter. Errors are
:class:`~vmplatform.errors.VmplatformError`; they are printed as
``vmplatform: error: ...`` (and, with --json, as a QMP error object on
stdout) and never as a traceback.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vmplatform.errors import InternalError, UsageError, VmplatformError

if TYPE_CHECKING:
    import argparse

# subcommand -> (module, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "probe": ("probe", "probe this host's kernel features (real ioctls, no QEMU)"),
    "query-platforms": ("query_platforms", "which platforms a host supports, and its default"),
    "platforms": ("platforms", "list or show platform definitions"),
    "features": ("features", "list the host-feature catalog"),
    "machines": ("machines", "list machine types or import them from a QEMU binary"),
    "resolve": ("resolve", "pin every platform-governed property for a machine type and platform"),
    "qmp": ("qmp", "QMP endpoint: pass QEMU's QMP through and add query-platforms"),
    "analyze": ("analyze", "write a VM's dependency manifest (the host features its guest ABI relies on)"),
    "check": ("check", "can this host run or receive a VM (manifest or running QEMU)?"),
    "migrate": ("migrate", "live-migrate a VM: check the destination's platform and offer first, verify after"),
    "export": ("export", "write a platform's pins as a QEMU -readconfig file (no wrapper needed)"),
    "qemu": ("qemu", "run QEMU with -platform: pin host-dependent properties, refuse what the host lacks"),
    "merge": ("merge", "the features every one of several hosts has, as a platform definition file"),
    "compare": ("compare", "compare two hosts: common platforms, differing features, safe migration direction"),
    "baseline": ("baseline", "the latest platform every host supports, and what holds newer ones back"),
    "libvirt": ("libvirt", "libvirt domain XML: pin platform-governed properties and store the manifest"),
    "fleet": ("fleet", "the fleet inventory: store host reports, place and admit VMs, migration domains"),
}


def build_parser() -> argparse.ArgumentParser:
    from vmplatform.cli._parser import build_parser as build

    return build(COMMANDS)


def _wants_json(argv: Sequence[str]) -> bool:
    return "--json" in argv or "--format=json" in argv or (
        "--format" in argv and argv[list(argv).index("--format") + 1:][:1] == ["json"])


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in COMMANDS and not any(a in ("-h", "--help") for a in args_list[1:2]):
            # Fast path: build only the parser of the subcommand that runs.
            name = args_list[0]
            module, help_text = COMMANDS[name]
            mod = importlib.import_module(f"vmplatform.cli.{module}")
            run_argv = getattr(mod, "run_argv", None)
            if run_argv is not None:  # hot paths parse their own options: argparse costs ~6 ms
                code: int = run_argv(args_list[1:])
                if code >= 0:
                    return code
            from vmplatform.cli._parser import Parser

            p = Parser(prog=f"vmplatform {name}", description=help_text)
            mod.add_arguments(p)
            parse_argv = getattr(mod, "parse_argv", None)
            ns = parse_argv(p, args_list[1:]) if parse_argv else p.parse_args(args_list[1:])
            rc: int = mod.run(ns)
            return rc
        parser = build_parser()
        ns = parser.parse_args(args_list)
        if not getattr(ns, "_module", None):
            parser.print_help()
            return 2
        mod = importlib.import_module(f"vmplatform.cli.{ns._module}")
        rc = mod.run(ns)
        return rc
    except VmplatformError as err:
        report_error(err, _wants_json(args_list))
        return 2 if isinstance(err, UsageError) else 1
    except KeyboardInterrupt:
        print("vmplatform: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:
        # The one last-resort boundary: an uncaught exception is a bug in vmplatform,
        # and the person who hits it gets a sentence and an exit code, not a traceback.
        if os.environ.get("VMPLATFORM_DEBUG") == "1":
            raise
        report_error(InternalError(err), _wants_json(args_list))
        return 70


def report_error(err: VmplatformError, as_json: bool) -> None:
    print(f"vmplatform: error: {err}", file=sys.stderr)
    if as_json:
        desc = err.message + (f" ({err.hint})" if err.hint else "")
        print(json.dumps({"error": {"class": err.error_class, "desc": desc}}))
