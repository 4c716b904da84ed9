"""``vmplatform features``: the host-feature catalog."""

from __future__ import annotations

import argparse

from vmplatform.cli._common import add_json, print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json(p)


def run(ns: argparse.Namespace) -> int:
    from vmplatform.model.features import default_catalog

    cat = default_catalog()
    if ns.json:
        print_json([f.to_json() for f in cat])
        return 0
    width = max(len(f.id) for f in cat)
    for f in cat:
        linux = f"Linux {f.linux}" if f.linux else "not a kernel release"
        gov = ", ".join(f"{g.driver}.{g.prop}" for g in f.governs) or "-"
        print(f"{f.id:<{width}}  {linux:<16} {f.category.value:<8} {f.summary}\n{'':<{width}}  governs: {gov}")
    return 0
