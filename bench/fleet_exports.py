"""The exports at fleet scale: a synthetic fleet in a SQLite store, each export timed.

    .venv/bin/python bench/fleet_exports.py [--hosts 100000]

Hosts are grown from the captured real reports (vmplatform.fleet.synth), stored
with the store's own batch insert, then the export paths the CLI takes are timed:
the class view read from the store, the HTML page, node labels (every host, and
1,000 hosts with their own default, which reads each host's report), the traits
and the Nova provider config of every host. Next to each, the anchor: the same
answer computed host by host (support evaluated once per host), which is what the
per-class view saves.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vmplatform.fleet.export_html import render_html, report_model  # noqa: E402
from vmplatform.fleet.export_labels import node_labels  # noqa: E402
from vmplatform.fleet.export_traits import host_traits, nova_provider_config, nova_provider_yaml, trait_map  # noqa: E402
from vmplatform.fleet.export_view import fleet_view_of_store  # noqa: E402
from vmplatform.fleet.ingest import parse  # noqa: E402
from vmplatform.fleet.questions import Fleet  # noqa: E402
from vmplatform.fleet.store import Incoming, Store  # noqa: E402
from vmplatform.fleet.synth import generate, load_seeds  # noqa: E402
from vmplatform.model.platforms import load_platforms  # noqa: E402
from vmplatform.model.report import from_json_obj  # noqa: E402
from vmplatform.resolution.support import evaluate  # noqa: E402


def timed(label: str, fn, rows: list[tuple[str, float, str]], note: str = ""):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    rows.append((label, time.perf_counter() - t0, note))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=100_000)
    ns = ap.parse_args()
    platforms = load_platforms([], env={}, system=None)
    seeds = load_seeds([ROOT / "tests" / "data" / "hosts", ROOT / "tests" / "data" / "probed"])
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="vmplatform-bench-") as tmp:
        store = Store.open(str(Path(tmp) / "fleet.db"))

        def ingest() -> None:
            batch: list[Incoming] = []
            for name, text in generate(seeds, ns.hosts, platforms.catalog, seed=1):
                item = parse(name, text)
                assert isinstance(item, Incoming), item
                batch.append(item)
                if len(batch) == 5000:
                    store.add_reports(batch)
                    batch = []
            store.add_reports(batch)

        timed(f"store {ns.hosts:,} synthetic reports", ingest, rows, "setup, not an export")
        fleet = Fleet(store, platforms)
        view = timed("class view from the store", lambda: fleet_view_of_store(fleet), rows,
                     f"{len(fleet.classes)} classes")
        html = timed("html page (model + Jinja2)", lambda: render_html(report_model(view)), rows, "")
        rows[-1] = (rows[-1][0], rows[-1][1], f"{len(html):,} bytes, {len(view.domains())} domains")
        timed("labels, every host (no default)", lambda: node_labels(view), rows, "")
        some = sorted(view.class_index)[:1000]
        reports = timed("read 1,000 hosts' reports", lambda: {h: store.latest_report(h) for h in some}, rows, "")
        timed("labels, 1,000 hosts with default", lambda: node_labels(view, reports, some), rows, "")
        tmap = trait_map(platforms)
        traits = timed("traits, every host", lambda: host_traits(view, tmap), rows, "")
        timed("nova provider config, every host", lambda: nova_provider_yaml(nova_provider_config(traits, tmap)),
              rows, "")
        texts = [t for _, t in generate(seeds, 2000, platforms.catalog, seed=1)]
        import json

        per_host = timed("anchor: support evaluated per host, 2,000 hosts",
                         lambda: [evaluate(from_json_obj(json.loads(t)), platforms) for t in texts], rows, "")
        rows[-1] = (rows[-1][0], rows[-1][1], f"x{ns.hosts / len(per_host):.0f} = "
                    f"{rows[-1][1] * ns.hosts / len(per_host):.1f} s extrapolated to {ns.hosts:,}")
        store.close()
    width = max(len(r[0]) for r in rows)
    for label, secs, note in rows:
        print(f"{label:<{width}}  {secs * 1000:10.1f} ms  {note}")


if __name__ == "__main__":
    main()
