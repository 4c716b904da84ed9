"""``vmplatform fleet export FORMAT``: the fleet store's answers in the forms schedulers read.

    labels     Kubernetes node labels: a node-feature-discovery features.d file, kubectl arguments, JSON
    nova       a Nova provider config file (traits per compute node)
    placement  set the traits on each host's resource provider in a running Placement
    traits     the traits a VM (manifest) requires: flavor extra specs or a Placement query
    html       the fleet report page
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmplatform.cli._common import add_json, add_platform_dir, platforms_from, print_json
from vmplatform.errors import UsageError
from vmplatform.fleet.files import write_atomically

if TYPE_CHECKING:
    from vmplatform.fleet.export_view import FleetView
    from vmplatform.fleet.store import Store


def add_export(sub: Any, db: Any, group: Any) -> None:
    """Add ``export`` and its formats to the ``fleet`` subparsers (``db``/``group`` add those options)."""
    from vmplatform.cli._parser import Parser

    ex = sub.add_parser("export", help="export to schedulers: Kubernetes labels, Nova/Placement traits, HTML",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    fmt = ex.add_subparsers(dest="export_format", metavar="FORMAT", parser_class=Parser, required=True)

    def cmd(name: str, help_text: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = fmt.add_parser(name, help=help_text, description=help_text)
        db(sp)
        add_platform_dir(sp)
        return sp

    lab = cmd("labels", "Kubernetes node labels: platforms each host supports, its feature facts, its default")
    group(lab)
    lab.add_argument("--host", action="append", default=[], metavar="HOST", help="only this host (repeatable)")
    lab.add_argument("--format", choices=("nfd", "kubectl", "json"), default="nfd",
                     help="nfd: node-feature-discovery features.d file (default); kubectl: one 'kubectl label' "
                          "command per host; json")
    lab.add_argument("-o", "--output", type=Path, metavar="PATH",
                     help="nfd, one host: write this file atomically (e.g. "
                          "/etc/kubernetes/node-feature-discovery/features.d/vmplatform)")
    lab.add_argument("--output-dir", type=Path, metavar="DIR",
                     help="nfd: write one file per host, named after it, into DIR")
    lab.add_argument("--expiry", metavar="RFC3339",
                     help="nfd: labels lapse at this time unless the file is refreshed (# +expiry-time)")
    lab.add_argument("--prefix", help="label prefix, a DNS subdomain (default vmplatform.feature.node.kubernetes.io)")

    nova = cmd("nova", "Nova provider config (YAML): each host's traits, for nova-compute's "
                       "[compute] provider_config_location")
    group(nova)
    nova.add_argument("--host", action="append", default=[], metavar="HOST", help="only this host (repeatable)")
    nova.add_argument("--compute-node", action="store_true",
                      help="identify the provider as $COMPUTE_NODE: the file for that one host's nova-compute")
    nova.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here atomically (default stdout)")

    pl = cmd("placement", "set each host's traits on its resource provider in OpenStack Placement")
    group(pl)
    add_json(pl)
    pl.add_argument("--url", required=True, metavar="URL", help="the Placement endpoint, e.g. http://controller:8778")
    pl.add_argument("--token", metavar="TOKEN",
                    help="Keystone token (default $OS_AUTH_TOKEN); with noauth2, the user name (e.g. admin)")
    pl.add_argument("--create-vcpus", type=int, metavar="N",
                    help="create a missing provider (named after the host) with N VCPUs; without it, hosts "
                         "with no provider are reported (Nova creates them)")

    tr = fmt.add_parser("traits", help="the traits a VM requires: flavor extra specs, or a Placement "
                        "allocation-candidates query", description="the traits a VM requires (no store needed)")
    add_platform_dir(tr)
    tr.set_defaults(no_store=True)
    tr.add_argument("manifest", type=Path, metavar="MANIFEST.json")
    tr.add_argument("--format", choices=("extra-specs", "query", "json"), default="extra-specs")

    html = cmd("html", "the fleet report page: domains x platforms, migration domains, the fleet default")
    group(html)
    html.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here (default stdout)")
    html.add_argument("--title", default="vmplatform fleet report")
    html.add_argument("--max-rows", type=int, default=40, metavar="N",
                      help="domains shown as rows; the rest are summed in one (default 40)")


def run(ns: argparse.Namespace, store: Store | None) -> int:
    if ns.export_format == "traits":
        return _traits(ns)
    assert store is not None  # every other format reads the store (cli/fleet.py opens it)
    handler = {"labels": _labels, "nova": _nova, "placement": _placement, "html": _html}[ns.export_format]
    rc: int = handler(ns, store)
    return rc


def _view(ns: argparse.Namespace, store: Store) -> FleetView:
    from vmplatform.fleet.export_view import fleet_view_of_store
    from vmplatform.fleet.questions import Fleet

    fleet = Fleet(store, platforms_from(ns), getattr(ns, "group", None))
    fleet.require_hosts()
    return fleet_view_of_store(fleet)


def _hosts(ns: argparse.Namespace, view: FleetView) -> list[str]:
    from vmplatform.fleet.questions import FleetError

    unknown = [h for h in ns.host if h not in view.class_index]
    if unknown:
        raise FleetError(f"no live host {', '.join(unknown)} in the fleet"
                         + (f" group '{ns.group}'" if getattr(ns, "group", None) else ""),
                         "list the hosts with 'vmplatform fleet hosts'")
    return sorted(set(ns.host)) if ns.host else sorted(view.class_index)




def _labels(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.export_labels import (
        PREFIX,
        kubectl_args,
        label_problems,
        nfd_file_text,
        node_labels,
        write_nfd_file,
    )

    if ns.prefix is not None and (problems := label_problems(f"{ns.prefix}/x", "")):
        raise UsageError(f"--prefix {ns.prefix!r}: {'; '.join(problems)}",
                         "choose a lower-case DNS subdomain, e.g. vmplatform.example.com")
    view = _view(ns, store)
    hosts = _hosts(ns, view)
    if ns.output and len(hosts) != 1:
        raise UsageError(f"-o writes the features.d file of one host, {len(hosts)} selected",
                         "pass --host NAME, or --output-dir DIR for one file per host")
    if (ns.output or ns.output_dir or ns.expiry) and ns.format != "nfd":
        raise UsageError("-o, --output-dir and --expiry go with --format nfd")
    reports = {h: store.latest_report(h) for h in hosts}    # the default platform needs the host's own report
    labels = node_labels(view, reports, hosts, ns.prefix or PREFIX)
    if ns.format == "json":
        print_json(labels.to_json(ns.prefix or PREFIX))
    elif ns.format == "kubectl":
        for n in labels.nodes:
            print(shlex.join(kubectl_args(n)))
    elif ns.output:
        write_nfd_file(labels.nodes[0], ns.output, ns.expiry)
    elif ns.output_dir:
        for n in labels.nodes:
            write_nfd_file(n, ns.output_dir / n.host, ns.expiry)
        print(f"wrote {len(labels.nodes)} features.d file(s) to {ns.output_dir}", file=sys.stderr)
    else:
        sys.stdout.write("".join(nfd_file_text(n, ns.expiry) for n in labels.nodes))
    return 0


def _nova(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.export_traits import host_traits, nova_provider_config, nova_provider_yaml, trait_map

    _require("yaml", "PyYAML")
    view = _view(ns, store)
    hosts = _hosts(ns, view)
    if ns.compute_node and len(hosts) != 1:
        raise UsageError(f"--compute-node writes the file of one host, {len(hosts)} selected",
                         "pass --host NAME, or leave out --compute-node to identify hosts by name")
    tmap = trait_map(view.platforms)
    every = host_traits(view, tmap)
    text = nova_provider_yaml(nova_provider_config({h: every[h] for h in hosts}, tmap, ns.compute_node))
    if ns.output:
        write_atomically(ns.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _placement(ns: argparse.Namespace, store: Store) -> int:
    from urllib.parse import urlsplit

    from vmplatform.fleet.export_placement import PlacementClient, sync_placement
    from vmplatform.fleet.export_traits import host_traits, trait_map

    if ns.create_vcpus is not None and ns.create_vcpus < 1:
        raise UsageError("--create-vcpus must be 1 or more")
    url = urlsplit(ns.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UsageError(f"--url {ns.url!r} is not an http(s) URL", "pass the Placement endpoint, e.g. "
                         "http://controller:8778 (openstack endpoint list --service placement)")
    view = _view(ns, store)
    tmap = trait_map(view.platforms)
    client = PlacementClient(ns.url, ns.token or os.environ.get("OS_AUTH_TOKEN"))
    try:
        res = sync_placement(client, host_traits(view, tmap), tmap.meaning, ns.create_vcpus)
    finally:
        client.close()
    if ns.json:
        print_json(res.to_json())
    else:
        print(f"{len(res.updated)} provider(s) updated, {len(res.unchanged)} unchanged"
              + (f", {len(res.created)} created" if res.created else "")
              + (f"; {len(res.traits_created)} trait(s) created" if res.traits_created else ""))
        if res.missing:
            print(f"no resource provider for {len(res.missing)} host(s): {', '.join(res.missing[:10])}"
                  + (" ..." if len(res.missing) > 10 else ""), file=sys.stderr)
    return 1 if res.missing else 0


def _traits(ns: argparse.Namespace) -> int:
    from vmplatform.cli.fleet import _manifest
    from vmplatform.fleet.export_traits import required_traits, trait_map

    traits = required_traits(_manifest(ns.manifest), trait_map(platforms_from(ns)))
    if ns.format == "json":
        print_json({"required": [*traits]})
    elif ns.format == "query":
        print("resources=VCPU:1" + (f"&required={','.join(traits)}" if traits else ""))
    else:
        for t in traits:
            print(f"trait:{t}=required")
    return 0


def _html(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.export_html import render_html, report_model

    _require("jinja2", "Jinja2")
    if ns.max_rows < 1:
        raise UsageError("--max-rows must be 1 or more")
    text = render_html(report_model(_view(ns, store), ns.title, ns.max_rows))
    if ns.output:
        write_atomically(ns.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _require(module: str, package: str) -> None:
    import importlib.util

    from vmplatform.fleet._deps import FleetDependencyError

    if importlib.util.find_spec(module) is None:
        raise FleetDependencyError(f"this export needs the Python package '{package}', which is not installed",
                                   "install the fleet extra: pip install 'vmplatform[fleet]'")
