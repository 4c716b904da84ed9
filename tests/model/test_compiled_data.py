"""The packaged data files are read from their install-time JSON compilation,
and that compilation says exactly what the TOML source says."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from vmplatform.model import _toml

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
