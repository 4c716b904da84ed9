"""``vmplatform fleet ...``: thin over the fleet store, ingest and questions (:mod:`vmplatform.fleet`).

The ``fleet`` extra (SQLAlchemy, Alembic, Starlette, uvicorn, tqdm, psycopg) is imported only when a
subcommand runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmplatform.cli._common import add_json, add_platform_dir, platforms_from, print_json
from vmplatform.errors import UsageError

if TYPE_CHECKING:
    from vmplatform.fleet.questions import Fleet
    from vmplatform.fleet.store import Store
    from vmplatform.resolution.manifest import Manifest


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH|URL",
                   help="the fleet store: an SQLite file (created if absent) or postgresql://USER@HOST/DB "
                        "(default: $VMPLATFORM_FLEET_DB, else ./fleet.db)")


def _group(p: argparse.ArgumentParser) -> None:
    p.add_argument("--group", metavar="LABEL", help="only the hosts carrying this label")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from vmplatform.cli._parser import Parser

    sub = p.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND", parser_class=Parser, required=True)

    def cmd(name: str, help_text: str, db: bool = True, json: bool = True, plats: bool = True) -> Any:
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if db:
            _db(sp)
        if json:
            add_json(sp)
        if plats:
            add_platform_dir(sp)
        return sp

    a = cmd("add", "store host reports (and VM manifests) from files, directories (*.json) or - (stdin)",
            plats=False)
    a.add_argument("inputs", nargs="+", metavar="REPORT.json|DIR|-")
    a.add_argument("--group", metavar="LABEL", action="append", default=[],
                   help="label every host added with LABEL (repeatable)")
    bar = a.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar even when stderr is not a terminal")
    bar.add_argument("--no-progress", dest="progress", action="store_false")

    h = cmd("hosts", "list the hosts: latest report, kernel, retired or not", plats=False)
    _group(h)
    h.add_argument("--all", action="store_true", help="include retired hosts")

    r = cmd("retire", "retire hosts: they stop answering questions (their reports are kept)", json=False,
            plats=False)
    r.add_argument("hosts", nargs="+", metavar="HOST")

    lab = cmd("label", "add (or --remove) a label on hosts; --group LABEL selects them", json=False, plats=False)
    lab.add_argument("label", metavar="LABEL")
    lab.add_argument("hosts", nargs="+", metavar="HOST")
    lab.add_argument("--remove", action="store_true")

    t = cmd("token", "issue a report token for a host (printed once; the store keeps its SHA-256)", json=False,
            plats=False)
    t.add_argument("host", metavar="HOST")

    s = cmd("serve", "HTTP endpoint where hosts POST their reports (docs/fleet.md)", json=False, plats=False)
    s.add_argument("--listen", default="127.0.0.1:8470", metavar="ADDR:PORT")

    rep = sub.add_parser("report", help="probe this host and POST the report to a fleet endpoint",
                         description="probe this host and POST the report to a fleet endpoint")
    rep.add_argument("--to", required=True, metavar="URL", help="the endpoint, e.g. http://fleet:8470")
    rep.add_argument("--token-file", required=True, type=Path, metavar="FILE",
                     help="file holding this host's token ('vmplatform fleet token HOST')")
    rep.add_argument("--host", metavar="REPORT.json", help="post this report instead of probing")
    rep.add_argument("--if-changed", type=Path, metavar="STATE",
                     help="post only when kernel or feature statuses differ from the last posted (kept in STATE)")

    pl = cmd("platforms", "how many hosts support each platform; the fleet default and what holds newer back")
    _group(pl)

    pc = cmd("place", "the hosts that can take this VM (the verdict of 'check')")
    pc.add_argument("manifest", type=Path, metavar="MANIFEST.json")
    pc.add_argument("--limit", type=int, default=20, metavar="N", help="list at most N hosts (default 20)")
    _group(pc)

    ad = cmd("admit", "can this host of the fleet take the VM? (exit 0 yes, 1 no; JSON as 'check')")
    ad.add_argument("manifest", type=Path, metavar="MANIFEST.json")
    ad.add_argument("--host", required=True, metavar="HOST")

    dm = cmd("domains", "migration domains: hosts that support exactly the same platforms")
    _group(dm)

    mg = cmd("merge", "the features every host has, as a platform definition (-platform FILE)", json=False)
    _group(mg)
    mg.add_argument("--name", help="platform name (default fleet-<digest>)")
    mg.add_argument("-o", "--output", type=Path, help="write the definition here (default stdout)")

    hi = cmd("history", "what changed between a host's reports; downgrades that removed features, and the "
                        "VMs they break")
    hi.add_argument("host", metavar="HOST")
    hi.add_argument("--manifest", action="append", type=Path, default=[], metavar="FILE",
                    help="also judge this VM manifest (stored manifests are always judged)")

    pn = cmd("plan", "how to start a VM on HOST so that it can migrate to the --to hosts")
    pn.add_argument("host", metavar="HOST")
    pn.add_argument("--to", nargs="+", required=True, metavar="HOST")
    pn.add_argument("--machine", "-M", help="machine type for the pins (default: QEMU's default)")

    ui = cmd("upgrade-impact", "before a rolling kernel upgrade or rollback: domains that split or merge, VMs "
                               "that lose destinations")
    ui.add_argument("--group", required=True, metavar="LABEL", help="the hosts that change kernel")
    ui.add_argument("--kernel", required=True, metavar="RELEASE")
    ui.add_argument("--manifest", action="append", type=Path, default=[], metavar="FILE",
                    help="also judge this VM manifest (stored manifests are always judged)")

    from vmplatform.cli.fleet_export import add_export

    add_export(sub, _db, _group)


def run(ns: argparse.Namespace) -> int:
    handler = _HANDLERS[ns.fleet_command]
    if ns.fleet_command == "report" or getattr(ns, "no_store", False):
        rc: int = handler(ns, None)
        return rc
    from vmplatform.fleet.store import Store

    with Store.open(ns.db) as store:
        rc = handler(ns, store)
        return rc


# -- storing ------------------------------------------------------------------------------

def _add(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.ingest import Refusal, ingest

    def refused(r: Refusal) -> None:
        print(f"vmplatform: refused {r.source}: {r.reason}", file=sys.stderr)

    res = ingest(store, ns.inputs, ns.group, ns.progress, refused)
    if ns.json:
        print_json(res.to_json())
    else:
        what = f"{res.reports} report(s)" + (f", {res.manifests} manifest(s)" if res.manifests else "")
        print(f"added {what} to {_where(store)}" + (f"; refused {len(res.refused)}" if res.refused else ""))
    return 1 if res.refused else 0


def _where(store: Store) -> str:
    from vmplatform.fleet.store import _safe

    return _safe(store.url).removeprefix("sqlite:///")


def _hosts(ns: argparse.Namespace, store: Store) -> int:
    rows = store.hosts(ns.all, ns.group)
    if ns.json:
        print_json([r.to_json() for r in rows])
        return 0
    for r in rows:
        print(f"{r.name}  {r.kernel_release}  {r.probed_at}" + (f"  retired {r.retired_at}" if r.retired_at else ""))
    return 0


def _retire(ns: argparse.Namespace, store: Store) -> int:
    for h in ns.hosts:
        store.retire(h)
        print(f"retired {h}")
    return 0


def _label(ns: argparse.Namespace, store: Store) -> int:
    store.label(ns.hosts, ns.label, ns.remove)
    print(f"{'removed' if ns.remove else 'added'} label {ns.label} {'from' if ns.remove else 'on'} "
          f"{len(set(ns.hosts))} host(s)")
    return 0


def _token(ns: argparse.Namespace, store: Store) -> int:
    print(store.issue_token(ns.host))
    print(f"(token for {ns.host}: only its SHA-256 is stored; put it in the host's token file)", file=sys.stderr)
    return 0


def _serve(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.server import serve

    host, _, port = ns.listen.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise UsageError(f"--listen '{ns.listen}' is not ADDR:PORT (a port of 0 to 65535)",
                         "e.g. --listen 127.0.0.1:8470")
    serve(store, host.strip("[]"), int(port))
    return 0


def _report(ns: argparse.Namespace, _store: Store | None) -> int:
    from vmplatform.fleet.client import post_report

    return post_report(ns.to, ns.token_file, ns.host, ns.if_changed)


# -- questions ------------------------------------------------------------------------------

def _fleet(ns: argparse.Namespace, store: Store, group: str | None = None) -> Fleet:
    from vmplatform.fleet.questions import Fleet

    return Fleet(store, platforms_from(ns), group)


def _manifest(path: Path) -> Manifest:
    from vmplatform.resolution.manifest import ManifestError, loads

    try:
        return loads(path.read_text(encoding="utf-8"), str(path))
    except OSError as err:
        raise ManifestError(str(path), "", f"cannot read: {err.strerror}",
                            hint="pass a manifest written by 'vmplatform analyze'") from err


def _platforms(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.questions import fleet_platforms
    from vmplatform.fleet.views import print_fleet_platforms

    fp = fleet_platforms(_fleet(ns, store, ns.group))
    if ns.json:
        print_json(fp.to_json())
    else:
        print_fleet_platforms(fp, ns.group)
    return 0


def _place(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.questions import place

    if ns.limit < 0:
        raise UsageError("--limit must be 0 or more")
    fleet = _fleet(ns, store, ns.group)
    fleet.require_hosts()
    pl = place(fleet, _manifest(ns.manifest), ns.limit)
    if ns.json:
        print_json(pl.to_json(fleet.total_hosts))
    else:
        print(f"{pl.hosts} of {fleet.total_hosts} hosts can take {ns.manifest}"
              + (f" (first {len(pl.names)}):" if pl.names else ""))
        for n in pl.names:
            print(f"  {n}")
        for r in pl.refused:
            print(f"  {r.hosts} host(s) {r.result.value}: lack {', '.join(r.responsible) or '(see check)'}")
    return 0 if pl.hosts else 1


def _admit(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.questions import admit

    v = admit(store, platforms_from(ns), _manifest(ns.manifest), ns.host)
    if ns.json:
        print_json(v.to_json())
    else:
        print(f"{v.result.value}: {v.message}", file=sys.stdout if v.result.ok else sys.stderr)
    return 0 if v.result.ok else 1


def _domains(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.questions import domains_of
    from vmplatform.fleet.views import print_domains

    fleet = _fleet(ns, store, ns.group)
    fleet.require_hosts()
    d = domains_of(fleet)
    if ns.json:
        print_json(d.to_json(fleet))
    else:
        print_domains(d, fleet)
    return 0


def _merge(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.questions import fleet_merge
    from vmplatform.resolution.merge import platform_toml

    p = fleet_merge(_fleet(ns, store, ns.group), ns.name)
    text = platform_toml(p).replace("'vmplatform merge'", "'vmplatform fleet merge'")
    if ns.output:
        ns.output.write_text(text)
        print(f"wrote platform {p.name} ({len(p.features)} features) to {ns.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _stored_manifests(store: Store, extra: list[Path]) -> dict[str, Manifest]:
    from vmplatform.resolution.manifest import loads

    out = {name: loads(text, f"stored manifest {name}") for name, text in store.manifests().items()}
    for path in extra:
        out[path.stem] = _manifest(path)
    return out


def _history(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.questions import history
    from vmplatform.fleet.views import print_history

    h = history(store, platforms_from(ns), ns.host, _stored_manifests(store, ns.manifest))
    if ns.json:
        print_json(h.to_json())
    else:
        print_history(h)
    return 0


def _plan(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.questions import plan
    from vmplatform.fleet.views import print_plan

    platforms = platforms_from(ns)
    p = plan(store, platforms, ns.host, ns.to)
    if ns.json:
        print_json(p.to_json(platforms, ns.machine))
    else:
        print_plan(p, platforms, ns.machine)
    return 0 if p.platform is not None and not p.refused else 1


def _upgrade_impact(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.fleet.questions import upgrade_impact
    from vmplatform.fleet.views import print_impact

    fleet = _fleet(ns, store, None)
    fleet.require_hosts()
    imp = upgrade_impact(fleet, store, ns.group, ns.kernel, _stored_manifests(store, ns.manifest))
    if ns.json:
        print_json(imp.to_json(fleet))
    else:
        print_impact(imp, fleet)
    return 0


def _export(ns: argparse.Namespace, store: Store) -> int:
    from vmplatform.cli.fleet_export import run as run_export

    return run_export(ns, store)


_HANDLERS: dict[str, Any] = {
    "add": _add, "hosts": _hosts, "retire": _retire, "label": _label, "token": _token, "serve": _serve,
    "report": _report, "platforms": _platforms, "place": _place, "admit": _admit, "domains": _domains,
    "merge": _merge, "history": _history, "plan": _plan, "upgrade-impact": _upgrade_impact,
    "export": _export,
}
