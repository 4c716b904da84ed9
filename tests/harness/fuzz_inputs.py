"""Generated bad input for every format vmplatform reads, and the rule it must obey.

Each format has seeds (real files from tests/data, or the packaged machine
catalog cut small), a mutator that turns a seed into a near miss (structure
kept, one thing wrong: a value of the wrong type, a key gone, a truncation, a
byte that does not belong, nesting far too deep), and a target that feeds it to the reader a user would reach. The rule,
checked by :func:`judge`: the reader returns, or raises the project's own
error (:class:`~vmplatform.errors.VmplatformError`) with a message; any other
exception is a finding. The QMP stream scanner returns error frames instead of
raising, so for it every exception is a finding.

Used by tests/cli/test_fuzz.py (a few hundred inputs per format, driven
by Hypothesis) and bench/fuzz_inputs.py (100,000 per format, with the classes
of errors met).
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from vmplatform.errors import VmplatformError

DATA = Path(__file__).parents[1] / "data"

# Characters that break parsers: separators of QEMU's option syntax, quotes,
# XML and JSON specials, controls, and text outside ASCII.
_NASTY = [",", ",,", "=", '"', "'", "\\", "\0", "\n", "\r", "<", ">", "&", "]]>", "{", "}", "[", "]",
          "\u00e9", "\u202e", "\ud7ff", "\U0001f600", " ", "\t", "-", "--", "0x", "1e999", "-1", "NaN"]


def _text_mutation(rng: random.Random, text: str, others: list[str]) -> str:
    if not text:
        return rng.choice(_NASTY)
    i = rng.randrange(len(text) + 1)
    j = min(len(text), i + rng.randrange(1, 64))
    op = rng.randrange(8)
    if op == 0:
        return text[:i]                                          # truncated
    if op == 1:
        return text[:i] + text[j:]                               # a piece missing
    if op == 2:
        return text[:i] + rng.choice(_NASTY) + text[i:]          # a character that does not belong
    if op == 3:
        return text[:i] + text[i:j] * rng.randrange(2, 50) + text[j:]   # repeated
    if op == 4:
        other = rng.choice(others) if others else text
        k = rng.randrange(len(other) + 1)
        return text[:i] + other[k:]                              # spliced with another seed
    if op == 5:
        return text[:i] + chr(rng.randrange(0x20, 0x2FF)) + text[i + 1:]
    if op == 6:
        depth = rng.choice([10, 1000, 20_000])
        return text[:i] + "[" * depth + "]" * depth + text[i:]  # nesting
    return text[:i] + "x" * rng.choice([1000, 100_000]) + text[i:]


def _random_json_value(rng: random.Random) -> Any:
    return rng.choice([None, True, False, 0, -1, 2**70, 1.5, float("inf"), "", "x" * 300, "\u0000",
                       [], {}, [None], {"": None}, "linux-6.1", "supported", "tap-uso", "2024-13-45"])


def _json_mutation(rng: random.Random, obj: Any) -> Any:
    """Replace, drop or add one node somewhere in a parsed JSON document."""
    if isinstance(obj, dict) and obj:
        key = rng.choice(list(obj))
        op = rng.randrange(5)
        out = dict(obj)
        if op == 0:
            del out[key]
        elif op == 1:
            out[key] = _random_json_value(rng)
        elif op == 2:
            out[key + rng.choice(["", "-x", "\u00e9"])] = _random_json_value(rng)
        else:
            out[key] = _json_mutation(rng, obj[key])
        return out
    if isinstance(obj, list) and obj:
        i = rng.randrange(len(obj))
        out_list = list(obj)
        op = rng.randrange(4)
        if op == 0:
            del out_list[i]
        elif op == 1:
            out_list[i] = _random_json_value(rng)
        elif op == 2:
            out_list.append(obj[i])
        else:
            out_list[i] = _json_mutation(rng, obj[i])
        return out_list
    return _random_json_value(rng)


def _mutate_json(rng: random.Random, text: str, others: list[str]) -> str:
    if rng.random() < 0.6:
        mutated = _json_mutation(rng, json.loads(text))
        for _ in range(rng.randrange(3)):
            mutated = _json_mutation(rng, mutated)
        return json.dumps(mutated)
    return _text_mutation(rng, text, others)


def _mutate_text(rng: random.Random, text: str, others: list[str]) -> str:
    for _ in range(rng.randrange(1, 4)):
        text = _text_mutation(rng, text, others)
    return text


def _mutate_argv(rng: random.Random, text: str, others: list[str]) -> str:
    """argv as a JSON list of strings: mutate one token's text, drop, repeat or move tokens."""
    argv: list[str] = json.loads(text)
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(argv))
        op = rng.randrange(5)
        if op == 0:
            argv[i] = _text_mutation(rng, argv[i], [])
        elif op == 1:
            del argv[i]
        elif op == 2:
            argv.insert(i, argv[rng.randrange(len(argv))])
        elif op == 3:
            argv.insert(i, rng.choice(["-nic", "-net", "-device", "-netdev", "-global", "-machine", "-accel",
                                       "-readconfig", "-platform", "-set", "-object", "-incoming", "--"]))
        else:
            argv[i] = json.dumps(_json_mutation(rng, {"driver": "virtio-net-pci", "netdev": "n0", "id": "d0"}))
        if not argv:
            argv = ["-device"]
    return json.dumps(argv)


# -- targets: the reader a user reaches with each format --------------------------

@cache
def _platforms() -> Any:
    from vmplatform.model.platforms import load_platforms

    return load_platforms(env={}, system=None)


@cache
def _machines() -> Any:
    from vmplatform.model.machines import default_machine_catalog

    return default_machine_catalog()


@cache
def _host() -> Any:
    from vmplatform.model.report import loads

    path = DATA / "hosts" / "debian13-6.12.json"
    return loads(path.read_text(), str(path))


@cache
def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="vmplatform-fuzz-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))


def _host_report(text: str) -> None:
    from vmplatform.model.report import loads

    loads(text, "fuzzed-report.json")


def _manifest(text: str) -> None:
    from vmplatform.resolution.manifest import check_manifest, loads

    manifest = loads(text, "fuzzed-manifest.json")
    check_manifest(manifest, _host(), _platforms(), _machines())


def _platform_file(text: str) -> None:
    from vmplatform.model.platforms import load_platform_file

    path = _scratch() / "fuzzed-platform.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load_platform_file(path, _platforms())


def _domain_xml(text: str) -> None:
    from vmplatform.libvirt.domain import qemu_argv, read_domain

    domain, _ = read_domain(text, "fuzzed-domain.xml", vhost_available=False)
    qemu_argv(domain)


def _qemu_argv(text: str) -> None:
    from vmplatform.qemu.frontend import rewrite

    rewrite(json.loads(text), mc=_machines(), platforms=_platforms(), report=_host())


def _readconfig(text: str) -> None:
    from vmplatform.qemu.frontend import rewrite

    path = _scratch() / "fuzzed.cfg"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    rewrite(["-machine", "pc-q35-10.0", "-readconfig", str(path)], mc=_machines(), platforms=_platforms(),
            report=_host())


def _machine_catalog(text: str) -> None:
    from vmplatform.model.machines import load_machine_catalog
    from vmplatform.qemu.frontend import rewrite

    path = _scratch() / "fuzzed-machines.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    mc = load_machine_catalog(path)
    list(mc)   # builds every machine type: compat props are read on first use
    rewrite(["-machine", "pc-q35-10.0", "-device", "virtio-net,netdev=u0", "-netdev", "user,id=u0"], mc=mc,
            platforms=_platforms(), report=_host())


def _small_catalog() -> tuple[str, ...]:
    """The packaged machine catalog cut to a few machine types and the types they need: a real seed
    small enough to mutate a few hundred times."""
    from vmplatform.model._toml import DATA_DIR

    obj = json.loads(sorted((DATA_DIR / "machines").glob("*.json"))[-1].read_text())
    keep = {"pc-q35-10.0", "pc-q35-8.1", "pc-i440fx-10.0", "q35", "pc"}
    obj["machines"] = [m for m in obj["machines"] if m["name"] in keep or m.get("alias") in keep]
    nets = {t: d for t, d in obj["device-defaults"].items() if t.startswith("virtio-net") or "q35" in t}
    obj["device-defaults"] = dict(list(nets.items())[:6])
    return (json.dumps(obj),)


def _qmp_frames(text: str) -> None:
    from vmplatform.qmp.protocol import JsonSplitter, ParseError, check_command

    splitter = JsonSplitter(max_size=1 << 20, max_nesting=1024)
    data = text.encode("utf-8", "surrogatepass")
    for k in range(0, len(data), 4093):  # arbitrary chunking, as a socket delivers it
        for frame in splitter.feed(data[k:k + 4093]):
            if not isinstance(frame, ParseError):
                check_command(frame)


@dataclass(frozen=True)
class Format:
    name: str
    seeds: tuple[str, ...]
    mutate: Callable[[random.Random, str, list[str]], str]
    target: Callable[[str], None]
    raises_own_errors: bool = True   # False: the reader reports errors as values, never raises


def _read(paths: list[Path]) -> tuple[str, ...]:
    return tuple(p.read_text(encoding="utf-8") for p in sorted(paths))


def _single_platforms() -> tuple[str, ...]:
    """Each packaged [[platform]] as a file of its own, the shape 'vmplatform merge' writes."""
    out = []
    for path in sorted((Path(__file__).parents[2] / "src/vmplatform/data/platforms").glob("*.toml")):
        chunks = path.read_text(encoding="utf-8").split("[[platform]]")
        out += ["[[platform]]" + chunk for chunk in chunks[1:]]
    return tuple(out)


_ARGV_SEEDS = [
    ["-machine", "pc-q35-10.0,accel=tcg", "-netdev", "tap,id=n0,vhost=off", "-device", "virtio-net-pci,netdev=n0"],
    ["-machine", "q35", "-netdev", '{"type":"tap","id":"hostnet0","fd":"3","vhost":false}',
     "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","bus":"pci.1","addr":"0x0"}'],
    ["-M", "pc-q35-10.0", "-nic", "tap,model=virtio-net-pci,ifname=t0,script=no"],
    ["-machine", "q35", "-net", "nic,model=virtio", "-net", "tap,ifname=t0,script=no"],
    ["-machine", "q35", "-device", "virtio-net,netdev=u0", "-netdev", "user,id=u0", "-platform", "linux-6.1"],
    ["-machine", "pc-q35-8.1", "-device", "virtio-iommu-pci", "-global", "virtio-net-pci.host_uso=off"],
]

_QMP_SEEDS = (
    '{"execute": "qmp_capabilities"}\n{"execute": "query-platforms", "id": 1}\n',
    '{"execute": "device_add", "arguments": {"driver": "virtio-net-pci", "netdev": "n1", "id": "d1"}, "id": "x"}\n',
    "{'execute': 'query-status'}\n{\"exec-oob\": \"migrate-pause\"}\n",
    '{"execute": "netdev_add", "arguments": {"type": "tap", "id": "n1"}}\n',
)


@cache
def formats() -> dict[str, Format]:
    return {f.name: f for f in [
        Format("host-report", _read([*(DATA / "hosts").glob("*.json"), *(DATA / "probed").glob("*.json")]),
               _mutate_json, _host_report),
        Format("manifest", _read(list((DATA / "manifests").glob("*.json"))), _mutate_json, _manifest),
        Format("platform-file", _single_platforms(), _mutate_text, _platform_file),
        Format("domain-xml", _read(list((DATA / "domains").glob("*.xml"))), _mutate_text, _domain_xml),
        Format("qemu-argv", tuple(json.dumps(a) for a in _ARGV_SEEDS), _mutate_argv, _qemu_argv),
        Format("readconfig", _read(list((DATA / "readconfig").glob("*.cfg"))), _mutate_text, _readconfig),
        Format("qmp-frames", _QMP_SEEDS, _mutate_text, _qmp_frames, raises_own_errors=False),
        Format("machine-catalog", _small_catalog(), _mutate_json, _machine_catalog),
    ]}


@dataclass(frozen=True)
class Outcome:
    ok: bool             # the rule held
    label: str           # "accepted", the project error's class, or the stray exception's class
    detail: str = ""


def judge(fmt: Format, text: str) -> Outcome:
    try:
        fmt.target(text)
    except VmplatformError as err:
        if not fmt.raises_own_errors:
            return Outcome(False, type(err).__name__, str(err))
        if not err.message.strip():
            return Outcome(False, type(err).__name__, "an error with no message")
        return Outcome(True, type(err).__name__)
    except Exception as err:  # the finding this harness exists to catch
        return Outcome(False, type(err).__name__, repr(err)[:500])
    return Outcome(True, "accepted")


def generate(fmt: Format, rng: random.Random) -> str:
    seeds = list(fmt.seeds)
    return fmt.mutate(rng, rng.choice(seeds), seeds)
