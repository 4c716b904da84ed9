"""The packaged data files are read from their install-time JSON compilation,
and that compilation says exactly what the TOML source says."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from vmplatform.model import _toml, features, machines, platforms

SOURCES = _toml.packaged_sources()


def test_there_is_packaged_data() -> None:
    assert any(p.name == "features.toml" for p in SOURCES)
    assert any(p.parent.name == "platforms" for p in SOURCES)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(_toml.DATA_DIR)))
def test_compiled_equals_source(source: Path) -> None:
    raw = source.read_bytes()
    compiled = _toml._read_compiled(source, raw)
    assert compiled is not None, (f"{source} has no current compiled form: run "
                                  "'python -m vmplatform.model._toml' (scripts/setup-host and scripts/test do)")
    source_data = tomllib.loads(raw.decode())
    assert compiled == source_data
    # Order too: tables keep the order of the file, and output follows it.
    assert _key_order(compiled) == _key_order(source_data)


def _key_order(value: object) -> object:
    if isinstance(value, dict):
        return [(k, _key_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_key_order(v) for v in value]
    return None


def test_an_edited_source_is_read_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compiled file that no longer matches its source is ignored, never trusted."""
    data = tmp_path / "data"
    (data / "platforms").mkdir(parents=True)
    src = data / "platforms" / "x.toml"
    src.write_text('[[platform]]\nname = "a"\n')
    monkeypatch.setattr(_toml, "DATA_DIR", data)
    monkeypatch.setattr(_toml, "COMPILED_DIR", data / "compiled")
    monkeypatch.setattr(_toml, "packaged_sources", lambda: [src])
    _toml.compile_packaged()
    assert _toml.load(src).data == {"platform": [{"name": "a"}]}
    src.write_text('[[platform]]\nname = "b"\n')
    assert _toml.load(src).data == {"platform": [{"name": "b"}]}


def test_files_outside_the_package_are_parsed_and_nothing_is_written(tmp_path: Path) -> None:
    src = tmp_path / "site.toml"
    src.write_text('[[platform]]\nname = "site"\n')
    before = set(_toml.COMPILED_DIR.iterdir())
    assert _toml.load(src).data == {"platform": [{"name": "site"}]}
    assert set(_toml.COMPILED_DIR.iterdir()) == before


# -- the validated catalog and the resolved platform set, compiled in the same build step ---------

def test_compiled_catalog_equals_the_catalog_read_from_its_source() -> None:
    compiled = features._compiled_catalog()
    assert compiled is not None, "no current compiled catalog: run 'python -m vmplatform.model._toml'"
    source = features.load_catalog()
    assert compiled == source
    assert compiled.ids() == source.ids()  # file order too: output follows it


def test_compiled_platforms_equal_the_platforms_derived_from_their_sources() -> None:
    catalog = features.default_catalog()
    compiled = platforms._compiled_platforms(catalog)
    assert compiled is not None, "no current compiled platform set: run 'python -m vmplatform.model._toml'"
    # the sources themselves: TOML parsed here, upstream releases derived from the catalog now
    source = platforms.load_platforms(catalog=features.load_catalog(), env={}, system=None)
    assert compiled.names() == source.names()
    for p in source:
        assert compiled.get(p.name) == p, p.name
    assert platforms.load_platforms(env={}, system=None).names() == source.names()


def _data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    (data / "platforms").mkdir(parents=True)
    for src in SOURCES:
        (data / src.relative_to(_toml.DATA_DIR)).write_bytes(src.read_bytes())
    for mod in (_toml, features, platforms):
        monkeypatch.setattr(mod, "DATA_DIR", data)
    monkeypatch.setattr(_toml, "COMPILED_DIR", data / "compiled")
    monkeypatch.setattr(features, "COMPILED_CATALOG", data / "compiled" / "catalog.json")
    monkeypatch.setattr(platforms, "COMPILED_PLATFORMS", data / "compiled" / "platforms.json")
    return data


def test_an_edited_catalog_or_platform_file_is_read_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled data made from other sources is never trusted: any source edit sends the loaders to it."""
    data = _data_copy(tmp_path, monkeypatch)
    features.compile_catalog()
    catalog = features._compiled_catalog()
    assert catalog is not None
    platforms.compile_platforms()
    assert platforms._compiled_platforms(catalog) is not None

    src = data / "features.toml"
    src.write_text(src.read_text().replace('summary = "', 'summary = "edited: ', 1))
    assert features._compiled_catalog() is None
    assert platforms._compiled_platforms(catalog) is None  # its upstream releases derive from the catalog
    features.compile_catalog()
    platforms.compile_platforms()

    debian = data / "platforms" / "debian.toml"
    debian.write_text(debian.read_text().replace('description = "', 'description = "edited: ', 1))
    assert platforms._compiled_platforms(catalog) is None
    assert any(p.description.startswith("edited: ") for p in platforms.load_platforms(env={}, system=None))

    (data / "platforms" / "site.toml").write_text("")  # a new packaged file is a new source
    platforms.compile_platforms()
    (data / "platforms" / "site.toml").unlink()
    assert platforms._compiled_platforms(catalog) is None


def test_other_definitions_are_read_from_their_files(tmp_path: Path) -> None:
    """Definitions outside the package (--platform-dir, $VMPLATFORM_PATH, the system directory) may
    inherit packaged ones: with any of them the whole set is loaded from the sources."""
    (tmp_path / "site.toml").write_text('[[platform]]\nname = "site-1"\ndescription = "site"\nvendor = "site"\n'
                                        'released = 2025-01-01\ninherits = "linux-6.1"\n')
    for ps in (platforms.load_platforms([tmp_path], env={}, system=None),
               platforms.load_platforms(env={"VMPLATFORM_PATH": str(tmp_path)}, system=None),
               platforms.load_platforms(env={}, system=tmp_path)):
        assert ps.get("site-1").features == ps.get("linux-6.1").features


# -- the packaged machine snapshots, compiled in parts in the same build step ----------------------

@pytest.mark.parametrize("path", machines.packaged_catalogs(), ids=lambda p: p.name)
def test_compiled_machine_catalog_equals_the_snapshot(path: Path) -> None:
    compiled = machines._compiled_machine_catalog(path)
    assert compiled is not None, f"{path} has no current compiled form: run 'python -m vmplatform.model._toml'"
    source = machines.load_machine_catalog(path)
    assert list(compiled.machines) == list(source.machines)
    assert all(compiled.machines[n] == source.machines[n] for n in source.machines)  # compat props in order
    assert compiled == source                                                         # every field, raw too
    assert compiled.default_machine() == source.default_machine()


def test_a_machine_snapshot_that_changed_is_read_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = machines.packaged_catalogs()[-1]
    assert machines._compiled_machine_catalog(path) is not None
    monkeypatch.setattr(_toml, "source_stamps", lambda sources: {"machines/x.json": "0-00000000"})
    assert machines._compiled_machine_catalog(path) is None
