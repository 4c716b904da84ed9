"""``vmplatform fleet export ...`` over a real fleet store (SQLite), as an operator runs it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from vmplatform.fleet.export_labels import PREFIX
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.report import dumps
from vmplatform.resolution.support import evaluate

from .conftest import DATA, generated_fleet


@pytest.fixture(scope="module")
def store(platforms: PlatformSet, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    where = tmp_path_factory.mktemp("fleet")
    fleet = generated_fleet(platforms, 12, seed=21)
    (where / "r").mkdir()
    for name, report in fleet:
        (where / "r" / f"{name}.json").write_text(dumps(report), encoding="utf-8")
    db = str(where / "fleet.db")
    rc, _, err = run_cli(["fleet", "add", "--db", db, "--no-progress", str(where / "r")])
    assert rc == 0, err
    return db, dict(fleet)


def test_labels_json_matches_each_hosts_support(store: tuple[str, dict], platforms: PlatformSet) -> None:  # type: ignore[type-arg]
    db, fleet = store
    rc, out, err = run_cli(["fleet", "export", "labels", "--db", db, "--format", "json"])
    assert rc == 0, err
    nodes = json.loads(out)["nodes"]
    assert sorted(nodes) == sorted(fleet)
    for host, report in fleet.items():
        s = evaluate(report, platforms)  # type: ignore[arg-type]
        labels = nodes[host]["labels"]
        assert {k.split("/platform.")[1] for k in labels if "/platform." in k} == {p.name for p in s if p.supported}
        if s.has_default:
            assert labels[f"{PREFIX}/default-platform"] == s.default.name


def test_labels_nfd_file_written_atomically_for_one_host(store: tuple[str, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    db, fleet = store
    host = sorted(fleet)[0]
    target = tmp_path / "vmplatform"
    rc, _, err = run_cli(["fleet", "export", "labels", "--db", db, "--host", host, "-o", str(target),
                          "--expiry", "2031-01-01T00:00:00Z"])
    assert rc == 0, err
    text = target.read_text()
    assert "# +expiry-time=2031-01-01T00:00:00Z\n" in text
    assert f"{PREFIX}/domain=d-" in text
    assert [p.name for p in tmp_path.iterdir()] == ["vmplatform"]
    rc, _, err = run_cli(["fleet", "export", "labels", "--db", db, "--output-dir", str(tmp_path)])
    assert rc == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*fleet, "vmplatform"])


def test_labels_kubectl_lines_parse_as_commands(store: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    db, fleet = store
    rc, out, err = run_cli(["fleet", "export", "labels", "--db", db, "--format", "kubectl"])
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == len(fleet)
    for line in lines:
        argv = shlex.split(line)
        assert argv[:3] == ["kubectl", "label", "node"] and argv[3] in fleet and argv[4] == "--overwrite"


def test_nova_yaml_for_the_fleet_and_one_compute_node(store: tuple[str, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    db, fleet = store
    out_file = tmp_path / "provider.yaml"
    rc, _, err = run_cli(["fleet", "export", "nova", "--db", db, "-o", str(out_file)])
    assert rc == 0, err
    doc = yaml.safe_load(out_file.read_text())
    assert sorted(p["identification"]["name"] for p in doc["providers"]) == sorted(fleet)
    host = sorted(fleet)[1]
    rc, out, err = run_cli(["fleet", "export", "nova", "--db", db, "--host", host, "--compute-node"])
    assert rc == 0, err
    one = yaml.safe_load(out)
    assert one["providers"][0]["identification"] == {"uuid": "$COMPUTE_NODE"}
    assert one["providers"][0]["traits"] == next(p["traits"] for p in doc["providers"]
                                                 if p["identification"]["name"] == host)


def test_traits_of_a_manifest(store: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    manifest = DATA / "manifests" / "debian13-6.12-default.json"
    rc, out, err = run_cli(["fleet", "export", "traits", str(manifest)])
    assert rc == 0, err
    req = json.loads(manifest.read_text())["requires"]
    assert sorted(out.splitlines()) == sorted(
        f"trait:CUSTOM_VMPLATFORM_FEATURE_{r['feature'].upper().replace('-', '_')}=required" for r in req)


def test_html_page_from_the_store(store: tuple[str, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    db, fleet = store
    page = tmp_path / "fleet.html"
    rc, _, err = run_cli(["fleet", "export", "html", "--db", db, "-o", str(page), "--title", "lab <fleet>"])
    assert rc == 0, err
    html = page.read_text()
    assert "<title>lab &lt;fleet&gt;</title>" in html
    assert f'<b id="host-count">{len(fleet)}</b>' in html


@pytest.mark.parametrize(("argv", "code", "message"), [
    # a host the store does not hold is a data error, as 'no host ... in the fleet store' elsewhere
    (["labels", "--host", "no-such-host"], 1, "no live host no-such-host in the fleet"),
    # the rest is the command line: options that do not go together, values that cannot be
    (["labels", "-o", "x"], 2, "-o writes the features.d file of one host"),
    (["labels", "--format", "kubectl", "--expiry", "2030-01-01T00:00:00Z"], 2, "go with --format nfd"),
    (["labels", "--prefix", "Not_A_Domain"], 2, "is not a DNS subdomain"),
    (["nova", "--compute-node"], 2, "--compute-node writes the file of one host"),
    (["placement", "--url", "ftp://x"], 2, "is not an http(s) URL"),
    (["placement", "--url", "http://127.0.0.1:9", "--create-vcpus", "0"], 2, "--create-vcpus must be 1 or more"),
    (["html", "--max-rows", "0"], 2, "--max-rows must be 1 or more"),
    (["html", "--max-rows", "many"], 2, "argument --max-rows: invalid int value: 'many'"),
    (["labels", "--no-such-option"], 2, "unrecognized arguments: --no-such-option"),
])
def test_bad_input_is_a_clear_error(store: tuple[str, dict], argv: list[str], code: int, message: str) -> None:  # type: ignore[type-arg]
    db, _ = store
    rc, _, err = run_cli(["fleet", "export", argv[0], "--db", db, *argv[1:]])
    assert (rc, "Traceback" in err) == (code, False), err
    assert message in err, err


def test_unknown_feature_in_manifest_is_refused(tmp_path: Path) -> None:
    m = json.loads((DATA / "manifests" / "debian13-6.12-default.json").read_text())
    m["requires"] = [{"feature": "warp-drive", "required-by": "a device"}]
    (tmp_path / "m.json").write_text(json.dumps(m))
    rc, _, err = run_cli(["fleet", "export", "traits", str(tmp_path / "m.json")])
    assert rc == 1 and "warp-drive is not in the catalog" in err
