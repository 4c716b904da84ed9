"""Fuzz every input format: N generated inputs per format (default 100,000).

Prints, per format, how many inputs were tried, how many were accepted, the
classes of the project's own errors met (each with its count), the input rate,
and the findings: inputs answered with anything but the project's own error.
Findings are written to --findings DIR (one file per finding) to reproduce them.
Exits 1 when there is a finding.

    .venv/bin/python bench/fuzz_inputs.py [-n 100000] [--jobs 2] [--format NAME ...] [--json]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

from tests.harness.fuzz_inputs import formats, generate, judge  # noqa: E402


def run_chunk(name: str, seed: int, count: int, findings_dir: str) -> dict[str, object]:
    fmt = formats()[name]
    rng = random.Random(seed)
    labels: collections.Counter[str] = collections.Counter()
    findings = 0
    t0 = time.perf_counter()
    for i in range(count):
        text = generate(fmt, rng)
        outcome = judge(fmt, text)
        labels[outcome.label] += 1
        if not outcome.ok:
            findings += 1
            path = Path(findings_dir) / f"{name}-{seed}-{i}.txt"
            path.write_text(f"{outcome.label}: {outcome.detail}\n---\n{text}", encoding="utf-8",
                            errors="surrogatepass")
    return {"labels": dict(labels), "findings": findings, "seconds": time.perf_counter() - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=100_000, help="inputs per format")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--format", action="append", choices=sorted(formats()), help="only these formats")
    ap.add_argument("--findings", default="fuzz-findings", help="directory for findings")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout instead of the table")
    ns = ap.parse_args()
    names = ns.format or sorted(formats())
    Path(ns.findings).mkdir(exist_ok=True)
    chunk = 2_000
    jobs = []
    with ProcessPoolExecutor(ns.jobs) as pool:
        for name in names:
            for k, start in enumerate(range(0, ns.n, chunk)):
                jobs.append((name, pool.submit(run_chunk, name, 1000 * k + 17, min(chunk, ns.n - start),
                                               ns.findings)))
        totals: dict[str, dict[str, object]] = {}
        for name, fut in jobs:
            res = fut.result()
            t = totals.setdefault(name, {"labels": collections.Counter(), "findings": 0, "seconds": 0.0})
            t["labels"].update(res["labels"])  # type: ignore[attr-defined]
            t["findings"] += res["findings"]  # type: ignore[operator]
            t["seconds"] += res["seconds"]  # type: ignore[operator]
    if ns.json:
        print(json.dumps({n: {"inputs": sum(t["labels"].values()), "labels": dict(t["labels"]),  # type: ignore
                              "findings": t["findings"]} for n, t in totals.items()}, indent=2))
    else:
        print(f"{'format':<14} {'inputs':>8} {'accepted':>9} {'findings':>8} {'inputs/s':>9}  own errors met")
        for name, t in totals.items():
            labels: collections.Counter[str] = t["labels"]  # type: ignore[assignment]
            errors = ", ".join(f"{k} {v}" for k, v in labels.most_common() if k != "accepted")
            rate = sum(labels.values()) / max(float(t["seconds"]), 1e-9)  # type: ignore[arg-type]
            print(f"{name:<14} {sum(labels.values()):>8} {labels['accepted']:>9} {t['findings']:>8} "
                  f"{rate:>9.0f}  {errors}")
    return 1 if any(t["findings"] for t in totals.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
