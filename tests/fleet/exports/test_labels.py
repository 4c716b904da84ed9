"""Kubernetes node labels and node-feature-discovery feature files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmplatform.fleet.export_labels import (
    PREFIX,
    LabelError,
    kubectl_args,
    label_name,
    label_problems,
    nfd_file_text,
    node_labels,
    write_nfd_file,
)
from vmplatform.fleet.export_view import fleet_view, host_defaults
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.report import FeatureStatus
from vmplatform.resolution.support import evaluate

from .conftest import generated_fleet

# Kubernetes' rules restated from the API reference ("Labels and Selectors",
# kubernetes.io/docs/concepts/overview/working-with-objects/labels/), written
# independently of the module's regexes so a wrong regex there fails here.
_ALNUM = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _name_ok(name: str) -> bool:
    return 0 < len(name) <= 63 and name[0] in _ALNUM and name[-1] in _ALNUM and set(name) <= _ALNUM | set("-_.")


def _prefix_ok(prefix: str) -> bool:
    labels = prefix.split(".")
    return len(prefix) <= 253 and all(
        lab and lab[0].isalnum() and lab[-1].isalnum() and set(lab) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
        for lab in labels)


def _value_ok(value: str) -> bool:
    return value == "" or _name_ok(value)


def _key_ok(key: str) -> bool:
    if key.count("/") > 1:
        return False
    prefix, _, name = key.rpartition("/")
    return ("/" not in key or _prefix_ok(prefix)) and _name_ok(name)


@pytest.fixture(scope="module")
def fleet(platforms: PlatformSet) -> list[tuple[str, object]]:
    return generated_fleet(platforms, 30, seed=3)  # type: ignore[return-value]


def test_every_label_is_valid_and_says_what_the_verdicts_say(platforms: PlatformSet, fleet: list) -> None:  # type: ignore[type-arg]
    view = fleet_view(fleet, platforms)
    labels = node_labels(view, dict(fleet))
    assert len(labels.nodes) == len(fleet)
    for name, report in fleet:
        node = labels.node(name)
        for k, v in node.labels.items():
            assert _key_ok(k) and _value_ok(v), (k, v)
            assert k.startswith(PREFIX + "/")
        support = evaluate(report, platforms)
        want = {f"{PREFIX}/platform.{ps.name}" for ps in support if ps.supported}
        assert {k for k in node.labels if "/platform." in k} == want
        for r in report.results:
            key = f"{PREFIX}/feature.{r.feature}"
            if r.status is FeatureStatus.UNKNOWN:
                assert key not in node.labels and key in node.absent
            else:
                assert node.labels[key] == ("true" if r.status is FeatureStatus.SUPPORTED else "false")
        if support.has_default:
            assert node.labels[f"{PREFIX}/default-platform"] == support.default.name


def test_same_domain_label_iff_same_platforms(platforms: PlatformSet, fleet: list) -> None:  # type: ignore[type-arg]
    labels = node_labels(fleet_view(fleet, platforms))
    plats = {n.host: frozenset(k for k in n.labels if "/platform." in k) for n in labels.nodes}
    dom = {n.host: n.labels[f"{PREFIX}/domain"] for n in labels.nodes}
    hosts = sorted(plats)
    assert len(set(dom.values())) > 1
    for a in hosts:
        for b in hosts:
            assert (dom[a] == dom[b]) == (plats[a] == plats[b])


@given(st.text(alphabet="abcXYZ019-_.", min_size=1, max_size=120))
@settings(max_examples=300, deadline=None)
def test_label_name_is_always_valid_and_injective_enough(ident: str) -> None:
    name = label_name("platform", ident)
    assert _name_ok(name)
    assert label_problems(f"{PREFIX}/{name}", "true") == []
    if _name_ok(f"platform.{ident}"):
        assert name == f"platform.{ident}"  # names that fit are kept as they are


@pytest.mark.parametrize(("key", "value"), [
    ("a/b", ""), (f"{PREFIX}/x", "v"), ("x" * 63, "y" * 63), ("A.b_c-9", "Z"),
    ("Bad.Prefix/x", "v"), ("a//b", "v"), ("a/" + "x" * 64, "v"), ("a/-x", "v"), ("a/x", "v" * 64),
    ("a/x", "-v"), ("a/x", "v w"), ("/x", "v"), ("a/", "v"), ("a/x.", "v"), ("a.-b/x", "v"), ("a/x", "1.2+3"),
])
def test_module_rules_agree_with_the_restated_rules(key: str, value: str) -> None:
    assert (label_problems(key, value) == []) == (_key_ok(key) and _value_ok(value))


def test_nfd_file_round_trips_through_nfd_line_rules(platforms: PlatformSet, fleet: list, tmp_path: Path) -> None:  # type: ignore[type-arg]
    node = node_labels(fleet_view(fleet, platforms)).nodes[0]
    path = tmp_path / "vmplatform"
    write_nfd_file(node, path, expiry="2030-01-01T00:00:00Z")
    text = path.read_text()
    # NFD's local source: '#' lines are comments or '# +directive'; other lines name[=value].
    parsed = {}
    directives = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# +"):
            directives.append(line[3:])
        elif line and not line.startswith("#"):
            k, _, v = line.partition("=")
            parsed[k] = v
    assert parsed == dict(node.labels)
    assert directives == ["expiry-time=2030-01-01T00:00:00Z"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["vmplatform"]  # no dot-file left behind


def test_nfd_file_is_replaced_atomically(platforms: PlatformSet, fleet: list, tmp_path: Path) -> None:  # type: ignore[type-arg]
    """A reader polling the directory as NFD does never sees a partial file."""
    labels = node_labels(fleet_view(fleet, platforms))
    a, b = labels.nodes[0], labels.nodes[-1]
    texts = {nfd_file_text(a), nfd_file_text(b)}
    path = tmp_path / "vmplatform"
    write_nfd_file(a, path)
    stop = threading.Event()
    seen: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            for entry in os.scandir(tmp_path):
                if not entry.name.startswith("."):  # NFD skips dot-files
                    seen.append(Path(entry.path).read_text())

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        write_nfd_file(b if i % 2 else a, path)
    stop.set()
    t.join()
    assert seen and set(seen) <= texts


def test_dot_file_target_and_unwritable_dir_are_refused(platforms: PlatformSet, fleet: list, tmp_path: Path) -> None:  # type: ignore[type-arg]
    node = node_labels(fleet_view(fleet, platforms)).nodes[0]
    with pytest.raises(LabelError, match="ignores files whose name starts with '.'"):
        write_nfd_file(node, tmp_path / ".hidden")
    with pytest.raises(LabelError, match="cannot write there"):
        write_nfd_file(node, tmp_path / "no-such-dir" / "vmplatform")


def test_kubectl_args_set_ours_and_remove_stale(platforms: PlatformSet, fleet: list) -> None:  # type: ignore[type-arg]
    node = node_labels(fleet_view(fleet, platforms)).nodes[0]
    args = kubectl_args(node)
    assert args[:5] == ["kubectl", "label", "node", node.host, "--overwrite"]
    sets = [a for a in args[5:] if "=" in a]
    removes = [a[:-1] for a in args[5:] if a.endswith("-") and "=" not in a]
    assert dict(a.split("=", 1) for a in sets) == dict(node.labels)
    assert set(removes) == set(node.absent) and not set(removes) & set(node.labels)
    # every platform the host lacks is removed: a downgrade never leaves a stale promise
    lacking = {p.name for p in platforms} - {k.split("/platform.")[1] for k in node.labels if "/platform." in k}
    assert {f"{PREFIX}/platform.{p}" for p in lacking} <= set(removes)


def test_bad_prefix_is_refused(platforms: PlatformSet, fleet: list) -> None:  # type: ignore[type-arg]
    with pytest.raises(LabelError, match="prefix 'Vmplatform.Example' is not a DNS subdomain"):
        node_labels(fleet_view(fleet, platforms), prefix="Vmplatform.Example")


def test_host_defaults_match_support(platforms: PlatformSet, fleet: list) -> None:  # type: ignore[type-arg]
    defaults = host_defaults(fleet_view(fleet, platforms), dict(fleet))
    for name, report in fleet:
        s = evaluate(report, platforms)
        assert defaults[name] == (s.default.name if s.has_default else None)


