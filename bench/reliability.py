"""One reliability table: bad input, injected faults, lost VMs, probe residue.

Runs, in one command, and prints each figure next to what it measures:

* inputs tried per format (tests/harness/fuzz_inputs.py: real seeds mutated; an input answered
  with anything but the project's own error is a finding);
* the probe SIGKILLed at random points, and what it left behind;
* QMP endpoint and fleet store fault scenarios (the hardening tests, each
  scenario one injected fault class, with how many faults it injects);
* the live-migration end-to-end matrix with a real guest: VMs lost with
  vmplatform, and the loss plain QEMU suffers on the same road.

    .venv/bin/python bench/reliability.py [-n 100000] [--kills 200] [--no-e2e] [--markdown]

Needs root, /dev/net/tun, QEMU and the guest kernel for the probe, QMP and
migration rows (scripts/setup-host); PostgreSQL for the fleet rows
(scripts/start-postgres). A row whose scenario failed says so.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import collections  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Scenario tests and the faults each injects (what the test does, not what it finds).
QMP_SCENARIOS = {
    "test_garbage_never_reaches_qemu": "5 malformed frames",
    "test_a_many_megabyte_frame_is_refused_and_the_rest_go_on": "1 frame of 80 MiB",
    "test_half_a_frame_then_gone_reaches_nobody": "20 half frames, then disconnect",
    "test_a_flood_is_answered_in_order_and_others_are_served": "5,000 commands in one write",
    "test_a_stalled_qemu_does_not_stall_local_answers": "QEMU never answers; client leaves",
    "test_qemu_dying_mid_reply_is_reported_to_every_client": "QEMU closes mid-reply",
    "test_qemu_leaving_mid_command_closes_clients_and_stops": "QEMU quits with 2 commands owed",
    "test_a_client_that_never_reads_is_dropped_not_buffered_forever": "a client reads nothing of 12 MB",
    "test_not_qmp_at_the_other_end": "the socket is not QMP",
    "test_a_monitor_that_never_greets": "QEMU never greets",
    "test_the_listening_socket_is_the_owners_alone": "umask 000",
}
FLEET_SCENARIOS = {
    "test_eight_writers_one_killed_mid_transaction": "8 writers, 1 SIGKILLed mid-ingest (per backend)",
    "test_postgres_restarted_mid_ingest": "PostgreSQL restarted during a 300-report ingest",
}
E2E_VMPLATFORM = {
    "test_check_refuses_uso_guest_before_migration_and_guest_keeps_running": "unsafe: refused by check",
    "test_front_end_refuses_platform_the_destination_lacks": "unsafe: refused by the front-end",
    "test_platform_pinned_guest_migrates_to_host_without_uso": "pinned guest to a host without USO",
    "test_each_road_migrates_to_a_host_without_uso": "JSON argv, -nic, hot-plug: 3 migrations",
    "test_unsafe_destinations_are_refused_and_the_vm_survives": "3 unsafe destinations refused",
}
E2E_PLAIN = "test_uso_guest_migrated_to_host_without_uso_fails_on_destination"


def fuzz_rows(n: int, jobs: int) -> list[tuple[str, str, str]]:
    from bench.fuzz_inputs import run_chunk  # type: ignore[import-not-found]
    from tests.harness.fuzz_inputs import formats

    findings = tempfile.mkdtemp(prefix="vmplatform-findings-")
    totals: dict[str, collections.Counter[str]] = {}
    found: collections.Counter[str] = collections.Counter()
    with ProcessPoolExecutor(jobs) as pool:
        futs = [(name, pool.submit(run_chunk, name, 7919 * k + 1, min(2000, n - start), findings))
                for name in sorted(formats()) for k, start in enumerate(range(0, n, 2000))]
        for name, fut in futs:
            res = fut.result()
            totals.setdefault(name, collections.Counter()).update(res["labels"])
            found[name] += res["findings"]
    rows = []
    for name, labels in totals.items():
        kinds = len([k for k in labels if k != "accepted"])
        rows.append((f"fuzz: {name}", f"{sum(labels.values()):,} inputs ({labels['accepted']:,} accepted, "
                                      f"{kinds} error classes)", f"{found[name]} findings"))
    return rows


def probe_rows(kills: int) -> list[tuple[str, str, str]]:
    from tests.harness.residue import kill_probes

    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
        return [("probe killed at random points", "skipped: needs root and /dev/net/tun", "-")]
    with tempfile.TemporaryDirectory() as d:
        killed, residue = kill_probes(kills, Path(d), seed=int(time.time()))
    return [("probe SIGKILLed at random points", f"{kills} runs, {killed} killed mid-probe",
             f"{len(residue)} residue" + (f": {residue[:3]}" if residue else ""))]


def pytest_outcomes(paths: list[str], extra: list[str]) -> dict[str, str]:
    """test function name -> passed / failed / skipped (parametrized cases: the worst)."""
    with tempfile.TemporaryDirectory() as d:
        junit = Path(d) / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                        *extra, *paths], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not junit.exists():
            return {}
        out: dict[str, str] = {}
        rank = {"passed": 0, "skipped": 1, "failed": 2}
        for case in ET.parse(junit).iter("testcase"):
            name = case.get("name", "").split("[")[0]
            state = "failed" if case.find("failure") is not None or case.find("error") is not None else \
                "skipped" if case.find("skipped") is not None else "passed"
            if rank[state] >= rank[out.get(name, "passed")]:
                out[name] = state
        return out


def scenario_rows(title: str, scenarios: dict[str, str], outcomes: dict[str, str]) -> list[tuple[str, str, str]]:
    rows = []
    for test, faults in scenarios.items():
        state = outcomes.get(test, "not run")
        verdict = {"passed": "held",
                   "failed": "FAILED: see the test"}.get(state, state)
        rows.append((f"{title}: {test.removeprefix('test_').replace('_', ' ')}", faults, verdict))
    return rows


def e2e_rows(outcomes: dict[str, str]) -> list[tuple[str, str, str]]:
    ran = {t: s for t, s in outcomes.items() if t in E2E_VMPLATFORM}
    lost = sum(1 for s in ran.values() if s == "failed")
    skipped = sum(1 for s in ran.values() if s == "skipped")
    rows = [("migration e2e with vmplatform", f"{len(ran)} scenarios ({skipped} skipped): "
             + "; ".join(E2E_VMPLATFORM[t] for t in ran),
             f"{lost} VMs lost" if not skipped else f"{lost} VMs lost in the scenarios that ran")]
    plain = outcomes.get(E2E_PLAIN)
    rows.append(("migration e2e, plain QEMU (control)", "the same USO guest, no vmplatform",
                 "1 VM lost (the failure reproduced)" if plain == "passed" else f"control {plain or 'not run'}"))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=100_000, help="fuzzed inputs per format")
    ap.add_argument("--kills", type=int, default=200, help="probe runs killed at random points")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-e2e", action="store_true", help="skip the guest boots and migrations")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    ns = ap.parse_args()
    t0 = time.monotonic()
    rows = fuzz_rows(ns.n, ns.jobs)
    rows += probe_rows(ns.kills)
    rows += scenario_rows("QMP", QMP_SCENARIOS, pytest_outcomes(
        ["tests/qmp/test_qmp_faults.py", "tests/qmp/test_endpoint_fake_qemu.py"], []))
    rows += scenario_rows("fleet", FLEET_SCENARIOS, pytest_outcomes(["tests/fleet/test_fleet_faults.py"], []))
    if not ns.no_e2e:
        rows += e2e_rows(pytest_outcomes(["tests/migration"], ["-p", "no:randomly"]))
    if ns.markdown:
        print("| what | tried / injected | result |\n|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} |")
    else:
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        for r in rows:
            print(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}")
    print(f"({time.monotonic() - t0:.0f} s)", file=sys.stderr)
    bad = [r for r in rows if "FAILED" in r[2] or (r[2].split()[0].isdigit() and int(r[2].split()[0]) > 0
                                                    and "lost (the failure reproduced)" not in r[2])]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
