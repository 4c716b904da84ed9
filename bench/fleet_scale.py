"""Benchmark: a synthetic fleet of 100,000 hosts and 10,000 VMs, on SQLite and on PostgreSQL.

Prints, in one run:
  * ingest rate (parse + validate + store, batches of 2,000 reports per transaction);
  * the latency of each question (fleet platforms, fleet domains, place every VM, admit, merge);
  * the naive answer, every (VM, host) pair judged with check_manifest on each host's
    own report in plain Python, timed on a sample of VMs against every host and
    extrapolated to all VMs (the full product is 10^9 checks: hours);
  * the ratios, and whether the two stores and the naive check agree on the sample.

The fleet is grown from the real reports under tests/data (vmplatform.fleet.synth);
the VMs are resolved and analysed by the package itself on random machine types,
NIC backends, accelerators and platforms.

    scripts/start-postgres
    .venv/bin/python bench/fleet_scale.py [--hosts 100000] [--vms 10000] [--pg postgresql:///postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [ROOT / "tests/data/hosts", ROOT / "tests/data/probed", ROOT / "tests/data/kernels"]


def make_vms(n: int, seed: int) -> list[object]:
    """``n`` manifests drawn from a few hundred distinct VMs the package resolves and analyses."""
    from vmplatform.model.accel import Accel
    from vmplatform.model.machines import default_machine_catalog
    from vmplatform.model.platforms import load_platforms
    from vmplatform.model.report import loads
    from vmplatform.model.vm import Backend, Device, VmConfig
    from vmplatform.resolution.manifest import Scope, from_resolution
    from vmplatform.resolution.resolve import resolve

    rng = random.Random(seed)
    mc = default_machine_catalog()
    platforms = load_platforms()
    report = loads((ROOT / "tests/data/hosts/debian13-6.12.json").read_text())
    machines = [m for m in ("pc-q35-10.0", "pc-q35-9.2", "pc-q35-8.1", "pc-q35-7.2", "pc-i440fx-9.2",
                            "pc-i440fx-6.2") if m in mc.machines]
    plats = list(platforms)
    distinct = []
    while len(distinct) < 300:
        devices = [Device("net0", "virtio-net-pci", rng.choice(list(Backend)))]
        if rng.random() < 0.3:
            devices.append(Device("vsock0", "vhost-vsock-pci"))
        cfg = VmConfig(machine=rng.choice(machines), devices=tuple(devices),
                       accel=rng.choice([Accel.KVM, Accel.KVM, Accel.TCG]))
        plat = rng.choice(plats)
        try:
            res = resolve(mc, platforms, cfg, plat)
        except Exception:  # a combination the package refuses: not a VM anyone can run
            continue
        distinct.append(from_resolution(res, plat, Scope.PLATFORM, report))
    return [distinct[rng.randrange(len(distinct))] for _ in range(n)]


def ingest_texts(store: object, texts: list[tuple[str, str]]) -> float:
    """Seconds to store ``texts`` through the path 'fleet add' takes (parse in workers, write in batches)."""
    import resource

    from vmplatform.fleet.ingest import ingest_docs

    def cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    t0, c0 = time.perf_counter(), cpu()
    res = ingest_docs(store, iter(texts), len(texts), progress=False)  # type: ignore[arg-type]
    assert res.reports == len(texts) and not res.refused, res.refused[:3]
    CPU["ingest_us_per_report"] = (cpu() - c0) / len(texts) * 1e6
    return time.perf_counter() - t0


CPU: dict[str, float] = {}


def timed(fn: object, n: int = 5, key: str = "") -> tuple[float, object]:
    """Median wall time (ms) of ``fn()`` over ``n`` runs, and its last result; the median CPU time of
    this process goes to CPU[key] (on a shared machine wall time includes waiting for a core)."""
    times, cpu, out = [], [], None
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    if key:
        CPU[key] = statistics.median(cpu)
    return statistics.median(times), out


def questions(url: str, vms: list[object], label: str) -> dict[str, object]:
    from vmplatform.fleet.questions import Fleet, Placer, admit, domains_of, fleet_merge, fleet_platforms
    from vmplatform.fleet.store import Store
    from vmplatform.model.platforms import load_platforms

    platforms = load_platforms()
    out: dict[str, object] = {}
    with Store.open(url) as store:
        out["platforms_ms"], fp = timed(lambda: fleet_platforms(Fleet(store, platforms)), key=label + "platforms")
        out["domains_ms"], doms = timed(lambda: domains_of(Fleet(store, platforms)), key=label + "domains")

        def place_all() -> list[object]:
            placer = Placer(Fleet(store, platforms))
            return [placer.place(m, 20) for m in vms]  # type: ignore[arg-type]

        out["place_ms"], placements = timed(place_all, 3, key=label + "place")
        some_host = store.hosts()[0].name
        out["admit_ms"], _ = timed(lambda: admit(store, platforms, vms[0], some_host))  # type: ignore[arg-type]
        out["merge_ms"], _ = timed(lambda: fleet_merge(Fleet(store, platforms)))
        out["classes"] = len(Fleet(store, platforms).classes)
        out["domains"] = len(doms.domains)  # type: ignore[attr-defined]
        out["default"] = fp.default.name if fp.default else None  # type: ignore[attr-defined]
        out["placements"] = placements
    print(f"  {label}: questions done", file=sys.stderr, flush=True)
    return out


def naive(texts: list[tuple[str, str]], vms: list[object], sample: int) -> tuple[float, list[int]]:
    """Seconds per VM for check_manifest on every host's own report, and the sample's host counts."""
    from vmplatform.model.platforms import load_platforms
    from vmplatform.model.report import loads
    from vmplatform.resolution.manifest import check_manifest

    platforms = load_platforms()
    reports = [loads(t, n) for n, t in texts]
    counts = []
    t0 = time.perf_counter()
    for m in vms[:sample]:
        counts.append(sum(check_manifest(m, r, platforms).result.ok for r in reports))  # type: ignore[arg-type]
    return (time.perf_counter() - t0) / sample, counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=100_000)
    ap.add_argument("--vms", type=int, default=10_000)
    ap.add_argument("--naive-sample", type=int, default=3, help="VMs checked naively against every host")
    ap.add_argument("--pg", default=os.environ.get("VMPLATFORM_TEST_PG", "postgresql:///postgres"),
                    help="PostgreSQL admin URL (a database is created and dropped); 'none' to skip")
    ns = ap.parse_args()

    from vmplatform.fleet.synth import generate, load_seeds
    from vmplatform.model.features import default_catalog

    seeds = load_seeds([d for d in SEEDS if d.exists()])
    t0 = time.perf_counter()
    texts = list(generate(seeds, ns.hosts, default_catalog(), seed=1))
    gen_s = time.perf_counter() - t0
    vms = make_vms(ns.vms, 2)
    print(f"fleet: {ns.hosts} synthetic hosts from {len(seeds)} real seed reports (generated in {gen_s:.1f} s), "
          f"{ns.vms} VMs", flush=True)

    results: dict[str, dict[str, object]] = {}
    tmp = tempfile.mkdtemp(prefix="vmplatform-fleet-bench-")
    targets = [("SQLite", str(Path(tmp) / "fleet.db"), None)]
    admin = None
    if ns.pg != "none":
        try:
            import psycopg

            admin = psycopg.connect(ns.pg, autocommit=True, connect_timeout=3)
            dbname = f"vmpf_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            admin.execute(f'CREATE DATABASE "{dbname}"')
            targets.append(("PostgreSQL", ns.pg.rsplit("/", 1)[0] + "/" + dbname, dbname))
        except Exception as err:  # noqa: BLE001 - reported, then the SQLite half still runs
            print(f"PostgreSQL skipped: {err}", flush=True)
    try:
        from vmplatform.fleet.store import Store

        for label, url, _ in targets:
            with Store.open(url) as store:
                secs = ingest_texts(store, texts)
                assert store.count_reports() == ns.hosts
            res = {"ingest_rate": ns.hosts / secs, "ingest_s": secs,
                   "ingest_cpu_us": CPU["ingest_us_per_report"]}
            res.update(questions(url, vms, label))
            results[label] = res
    finally:
        for _label, _url, dbname in targets:
            if dbname and admin is not None:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if admin is not None:
            admin.close()
        for f in Path(tmp).glob("*"):
            f.unlink()
        os.rmdir(tmp)

    per_vm, counts = naive(texts, vms, ns.naive_sample)
    naive_all = per_vm * ns.vms

    def row(name: str, key: str, fmt: str, naive_cell: str = "") -> None:
        print(f"| {name} | " + " | ".join(fmt.format(r[key]) for r in results.values()) + f" | {naive_cell} |")

    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(wall times below include waiting for a core; CPU times do not)")
    print()
    print(f"| measure ({ns.hosts} hosts, {ns.vms} VMs) | " + " | ".join(results) + " | naive (plain Python) |")
    print("|---|" + "---|" * (len(results) + 1))
    row("ingest, wall (reports/s)", "ingest_rate", "{:,.0f}")
    row("ingest, client CPU per report (us; parse workers included, PostgreSQL server not)", "ingest_cpu_us",
        "{:.0f}")
    row("distinct profiles (classes)", "classes", "{}")
    row("migration domains", "domains", "{}")
    for label in results:
        for k in ("platforms", "domains", "place"):
            results[label][k + "_cpu"] = CPU[label + k]
    row("fleet platforms, wall (ms)", "platforms_ms", "{:.0f}")
    row("fleet platforms, CPU (ms)", "platforms_cpu", "{:.0f}")
    row("fleet domains, wall (ms)", "domains_ms", "{:.0f}")
    row("fleet domains, CPU (ms)", "domains_cpu", "{:.0f}")
    row(f"place {ns.vms} VMs, wall (ms)", "place_ms", "{:.0f}",
        f"{naive_all * 1000:,.0f} (extrapolated from {ns.naive_sample} VMs x {ns.hosts} hosts: "
        f"{per_vm * 1000:,.0f} ms per VM)")
    row(f"place {ns.vms} VMs, CPU (ms)", "place_cpu", "{:.0f}")
    row("admit one VM on one host (ms)", "admit_ms", "{:.1f}")
    row("fleet merge (ms)", "merge_ms", "{:.0f}")
    print()
    for label, r in results.items():
        ratio = naive_all / (float(r["place_ms"]) / 1000)  # type: ignore[arg-type]
        print(f"{label}: placing every VM is {ratio:,.0f}x faster than the naive check")
    for label, r in results.items():
        pl = r["placements"]
        agree = [p.hosts for p in pl[: ns.naive_sample]] == counts  # type: ignore[index, attr-defined]
        print(f"{label}: host counts of the {ns.naive_sample} sampled VMs agree with the naive check: {agree}")
    if len(results) == 2:
        a, b = (r["placements"] for r in results.values())
        same = all(x == y for x, y in zip(a, b, strict=True))  # type: ignore[call-overload]
        print(f"SQLite and PostgreSQL give the same placements for all {ns.vms} VMs: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
