"""Mutation score of the core modules, measured with mutmut, one module at a time.

    .venv/bin/python bench/mutation.py                      # every module, this checkout
    .venv/bin/python bench/mutation.py verdict merge        # some modules
    .venv/bin/python bench/mutation.py --source DIR         # another tree (e.g. an older commit, unpacked)
    .venv/bin/python bench/mutation.py --survivors FILE     # also write every surviving mutant's diff

Each module is mutated in a scratch copy of the tree (nothing is written to
the checkout), with the tests that can reach it (the guest-booting e2e tests
are left out: minutes per run); mutmut runs, for each mutant, only the tests
that executed the mutated function. A mutant is *killed* when a test fails,
*timeout* when the tests hang (also a detection), *survived* when every test
passes, *no tests* when no selected test runs the function. Tests that run the
CLI in a child process see the unmutated package, so they cannot kill.

Score = (killed + timeout) / all mutants of the module. CPU-heavy: it runs
``--max-children`` test processes at once (default 1) and gives up on a
module after ``--budget`` seconds.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# In-process tests of the model, resolution and libvirt layers, the hand-written oracles and the CLI's golden cases.
FAST_TESTS = ["tests/model", "tests/resolution", "tests/libvirt", "tests/kernels/test_platform_contents.py",
              "tests/kernels/test_real_kernel_reports.py", "tests/cli/test_golden.py", "tests/cli/test_malformed.py"]
# A real libvirtd runs the hook as its own process (the unmutated package): half of the fast
# tests' time per mutant, and it cannot kill one.
IGNORED = ["tests/libvirt/test_libvirt_daemon.py"]


@dataclass(frozen=True)
class Module:
    name: str
    files: tuple[str, ...]            # under src/
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()   # mutant-name patterns (fnmatch); empty: every function

    @property
    def patterns(self) -> tuple[str, ...]:
        if self.functions:
            return self.functions
        return tuple(f.removesuffix(".py").replace("/", ".") + ".*" for f in self.files)


MODULES = [
    Module("resolve", ("vmplatform/resolution/resolve.py",), (*FAST_TESTS, "tests/qemu/test_frontend_real.py")),
    Module("verdict", ("vmplatform/resolution/verdict.py",), tuple(FAST_TESTS)),
    Module("support", ("vmplatform/resolution/support.py",), tuple(FAST_TESTS)),
    Module("merge", ("vmplatform/resolution/merge.py",), tuple(FAST_TESTS)),
    Module("manifest", ("vmplatform/resolution/manifest.py",), tuple(FAST_TESTS)),
    # test_probe_kernel_answers.py plays the answers of other kernels; the real probe runs here
    Module("probe", ("vmplatform/probe/linux.py",), ("tests/probe/test_probe_kernel_answers.py",
                                                     "tests/probe/test_probe_cache.py", "tests/model",
                                                     "tests/resolution", "tests/probe/test_probe_real.py",
                                                     "tests/probe/test_probe_modules.py",
                                                     "tests/probe/test_shim_agreement.py")),
    # The reply path: ids in, ids out, routing of replies and events, the reply encoders.
    Module("qmp-reply", ("vmplatform/qmp/endpoint.py", "vmplatform/qmp/upstream.py", "vmplatform/qmp/client.py",
                         "vmplatform/qmp/protocol.py"),
           # the connection to QEMU fed bytes directly, a scripted monitor, and the real QEMU of
           # test_endpoint.py (run last: mutmut runs the fastest tests first); the hot-plug and migration
           # tests pass through the same path but boot more QEMUs per test (minutes per mutant)
           ("tests/qmp/test_upstream_routing.py", "tests/qmp/test_endpoint_requests.py",
            "tests/qmp/test_endpoint_fake_qemu.py", "tests/qmp/test_reply_order.py", "tests/qmp/test_protocol.py",
            "tests/qmp/test_endpoint.py", "tests/qmp/test_qmp_reply_ids.py"),
           ("*Upstreamǁ_lines__mutmut_*", "*Upstreamǁ_route_parsed__mutmut_*", "*Upstreamǁforward__mutmut_*",
            "*ReplyQueueǁ*__mutmut_*", "*Endpointǁ_request__mutmut_*", "*Endpointǁ_forward__mutmut_*",
            "*x_readdress__mutmut_*",
            "*x__with_local_commands__mutmut_*", "*x_split_reply_id__mutmut_*", "*x_without_id__mutmut_*",
            "*x_id_json__mutmut_*", "*x_error_reply__mutmut_*", "*x_return_reply__mutmut_*",
            "*x_encode__mutmut_*", "*x_encode_command__mutmut_*")),
    # The hook's entry point and the decision it runs (admission); test_hook.py also calls the entry
    # point in-process, test_emulator.py the start record.
    Module("libvirt-hook", ("vmplatform/libvirt/hook.py", "vmplatform/libvirt/admission.py"),
           ("tests/libvirt/test_hook.py", "tests/libvirt/test_emulator.py")),
]
DETECTED = {"killed", "timeout", "caught by type check"}


def scratch_tree(source: Path, dest: Path) -> None:
    """The files of ``source`` that git tracks (or everything but build products, outside git)."""
    try:
        names = subprocess.run(["git", "-C", str(source), "ls-files", "-z"], check=True, capture_output=True,
                               text=True).stdout.split("\0")
    except (subprocess.CalledProcessError, FileNotFoundError):
        names = [str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()
                 and not {".git", ".venv", "mutants", "__pycache__"} & set(p.relative_to(source).parts)]
    for name in filter(None, names):
        src = source / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def configure(tree: Path, modules: list[Module]) -> None:
    """One mutmut set-up for every chosen module: the tests run once to learn which test
    executes which function, then each module's mutants are run on their own."""
    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(f'"{i}"' for i in items) + "]"

    files = sorted({f"src/{f}" for m in modules for f in m.files})
    tests = sorted({t for m in modules for t in m.tests if (tree / t).exists()})  # an older tree may lack some
    others = sorted(p.name for p in tree.iterdir() if p.name not in ("src", "tests", "pyproject.toml"))
    ignored = [f"--ignore={t}" for t in IGNORED]
    with open(tree / "pyproject.toml", "a", encoding="utf-8") as f:
        f.write("\n[tool.mutmut]\n"
                'source_paths = ["src"]\n'
                f"only_mutate = {toml_list(files)}\n"
                f"also_copy = {toml_list(others)}\n"
                f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
                f"pytest_add_cli_args = {toml_list(['-p', 'no:cacheprovider', '-q', *ignored])}\n"
                "use_git_change_detection = false\n")


def results(tree: Path) -> dict[str, str]:
    out = subprocess.run([str(VENV_BIN / "mutmut"), "results", "--all", "true"], cwd=tree, capture_output=True,
                         text=True).stdout
    status: dict[str, str] = {}
    for line in out.splitlines():
        name, sep, state = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            status[name] = state.strip()
    return status


def run_module(module: Module, tree: Path, max_children: int, budget: float,
               survivors: list[str]) -> tuple[dict[str, int], float, bool]:
    start = time.monotonic()
    finished = True
    # Tests that run the CLI in a child process get the unmutated package of the same tree
    # (not this checkout's, which may be another version).
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(tree / "src")}
    cmd = [str(VENV_BIN / "mutmut"), "run", "--max-children", str(max_children), *module.patterns]
    try:
        with open(tree / f"mutmut-{module.name}.log", "w") as log:
            subprocess.run(cmd, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=budget,
                           start_new_session=True)
    except subprocess.TimeoutExpired:
        finished = False
    status = {n: s for n, s in results(tree).items() if any(fnmatch.fnmatch(n, p) for p in module.patterns)}
    counts: dict[str, int] = {}
    for name, state in sorted(status.items()):
        counts[state] = counts.get(state, 0) + 1
        if state in ("survived", "no tests", "suspicious"):
            diff = subprocess.run([str(VENV_BIN / "mutmut"), "show", name], cwd=tree, capture_output=True,
                                  text=True).stdout
            survivors.append(f"### {module.name}: {name} ({state})\n{diff}")
    return counts, time.monotonic() - start, finished


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help=f"default: all ({', '.join(m.name for m in MODULES)})")
    ap.add_argument("--source", type=Path, default=REPO, help="tree to mutate (default: this checkout)")
    ap.add_argument("--max-children", type=int, default=1)
    ap.add_argument("--budget", type=float, default=900.0, help="seconds per module before giving up")
    ap.add_argument("--survivors", type=Path, help="write the surviving mutants' diffs here")
    ap.add_argument("--keep", action="store_true", help="keep the scratch trees (to inspect with mutmut)")
    ns = ap.parse_args()
    known = {m.name: m for m in MODULES}
    unknown = [n for n in ns.modules if n not in known]
    if unknown:
        ap.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = [known[n] for n in ns.modules] if ns.modules else MODULES
    if not (VENV_BIN / "mutmut").exists():
        ap.error(f"mutmut is not installed in {VENV_BIN.parent}: .venv/bin/pip install -e '.[mutation]'")
    survivors: list[str] = []
    print(f"{'module':<14}{'mutants':>8}{'killed':>8}{'timeout':>8}{'survived':>9}{'no tests':>9}{'other':>6}"
          f"{'score':>8}{'time':>7}")
    total = detected = 0
    tree = Path(tempfile.mkdtemp(prefix="vmplatform-mutation-"))
    try:
        scratch_tree(ns.source.resolve(), tree)
        # the build step of an install (compiled data files are not tracked; tests check them)
        subprocess.run([sys.executable, "-m", "vmplatform.model._toml"], cwd=tree, check=True,
                       env={**os.environ, "PYTHONPATH": str(tree / "src")}, stdout=subprocess.DEVNULL)
        configure(tree, chosen)
        for module in chosen:
            total, detected = report(module, tree, ns, survivors, total, detected)
    finally:
        if ns.keep:
            print(f"kept {tree}", file=sys.stderr)
        else:
            shutil.rmtree(tree, ignore_errors=True)
    if len(chosen) > 1 and total:
        print(f"{'all':<14}{total:>8}{'':>8}{'':>8}{'':>9}{'':>9}{'':>6}{100 * detected / total:>7.1f}%")
    if ns.survivors:
        ns.survivors.write_text("\n".join(survivors))
    return 0


def report(module: Module, tree: Path, ns: argparse.Namespace, survivors: list[str], total: int,
           detected: int) -> tuple[int, int]:
    counts, took, finished = run_module(module, tree, ns.max_children, ns.budget, survivors)
    n = sum(counts.values())
    det = sum(counts.get(s, 0) for s in DETECTED)
    other = n - det - counts.get("survived", 0) - counts.get("no tests", 0)
    score = f"{100 * det / n:.1f}%" if n else "-"
    print(f"{module.name:<14}{n:>8}{counts.get('killed', 0):>8}{counts.get('timeout', 0):>8}"
          f"{counts.get('survived', 0):>9}{counts.get('no tests', 0):>9}{other:>6}{score:>8}{took:>6.0f}s"
          + ("" if finished else "  (budget exhausted: partial)"), flush=True)
    return total + n, detected + det


if __name__ == "__main__":
    sys.exit(main())
