"""argparse set-up, imported only when a command needs it (argparse costs start-up time)."""

from __future__ import annotations

import argparse
import importlib

from vmplatform.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse whose errors are UsageError (printed like every other error)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", f"see '{self.prog} --help'")


def build_parser(commands: dict[str, tuple[str, str]]) -> argparse.ArgumentParser:
    from vmplatform import __version__

    parser = Parser(prog="vmplatform", description="Host-kernel-independent guest ABI for QEMU.")
    parser.add_argument("--version", action="version", version=f"vmplatform {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (module, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(f"vmplatform.cli.{module}")
        mod.add_arguments(p)
        p.set_defaults(_module=module)
    return parser
