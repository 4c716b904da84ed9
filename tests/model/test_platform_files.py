"""Platform definition files: inheritance, validation, exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmplatform.errors import DataFileError, UnknownNameError
from vmplatform.model.features import Catalog
from vmplatform.model.platforms import PlatformSet, load_platforms


def _load(tmp_path: Path, text: str, catalog: Catalog) -> PlatformSet:
    (tmp_path / "p.toml").write_text(text)
    return load_platforms([tmp_path], catalog=catalog, env={}, system=None, packaged=False)


def _error(tmp_path: Path, text: str, catalog: Catalog) -> DataFileError:
    with pytest.raises(DataFileError) as exc:
        _load(tmp_path, text, catalog)
    return exc.value


BASE = """
[[platform]]
name = "a"
description = "A"
released = 2020-01-01
add = ["tap-vnet-hdr"]
"""


def test_inheritance_resolves_add_and_remove(mini_platforms: PlatformSet) -> None:
    assert mini_platforms.get("t-old").features == {"tap-vnet-hdr", "tap-ufo"}
    assert mini_platforms.get("t-6.2").features == {"tap-vnet-hdr", "tap-ufo", "vhost-net-ring-reset", "tap-uso"}
    assert mini_platforms.get("t-distro").features == {"tap-vnet-hdr", "tap-ufo", "tap-uso"}


def test_remove_drops_inherited_feature(tmp_path: Path, mini_catalog: Catalog) -> None:
    ps = _load(tmp_path, BASE + """
[[platform]]
name = "b"
description = "B"
released = 2021-01-01
inherits = "a"
add = ["tap-ufo"]

[[platform]]
name = "c"
description = "C: UFO removed"
released = 2022-01-01
inherits = "b"
remove = ["tap-ufo"]
""", mini_catalog)
    assert ps.get("c").features == {"tap-vnet-hdr"}
    assert ps.names() == ["a", "b", "c"]


def test_unknown_feature_names_file_place_and_line(tmp_path: Path, mini_catalog: Catalog) -> None:
    err = _error(tmp_path, BASE.replace('"tap-vnet-hdr"', '"tap-usso"'), mini_catalog)
    assert err.path.endswith("p.toml")
    assert err.place == "platform[0].add"
    assert err.line == 6
    assert "unknown feature 'tap-usso'" in err.problem


def test_syntax_error_has_line(tmp_path: Path, mini_catalog: Catalog) -> None:
    err = _error(tmp_path, BASE + "\n[[platform]\nname = 'x'\n", mini_catalog)
    assert err.line == 8
    assert err.problem.startswith("TOML syntax error")


def test_cycle_is_reported(tmp_path: Path, mini_catalog: Catalog) -> None:
    err = _error(tmp_path, """
[[platform]]
name = "x"
description = "X"
released = 2020-01-01
inherits = "y"

[[platform]]
name = "y"
description = "Y"
released = 2020-01-01
inherits = "x"
""", mini_catalog)
    assert "inheritance cycle: x -> y -> x" in err.problem


@pytest.mark.parametrize("extra, problem", [
    ('name = "bad name!"', "has characters outside [a-zA-Z0-9_.-]"),
    ('inherits = "nope"', "inherits unknown platform 'nope'"),
    ('remove = ["tap-vnet-hdr"]', "feature 'tap-vnet-hdr' is both added and removed"),
    ('colour = "red"', "unknown key 'colour'"),
    ('released = "2020-01-01"', "must be a TOML date such as 2023-02-19, not '2020-01-01'"),
])
def test_malformed_definitions(tmp_path: Path, mini_catalog: Catalog, extra: str, problem: str) -> None:
    key = extra.split(" = ")[0]
    lines = [ln for ln in BASE.strip().splitlines() if not ln.startswith(key + " ")]
    text = "\n".join(lines[:2] + [extra] + lines[2:]) + "\n"
    err = _error(tmp_path, text, mini_catalog)
    assert problem in err.problem, err


def test_distro_needs_source_for_every_added_feature(tmp_path: Path, mini_catalog: Catalog) -> None:
    err = _error(tmp_path, BASE + """
[[platform]]
name = "d"
description = "D"
vendor = "somedistro"
released = 2021-01-01
inherits = "a"
add = ["tap-uso"]
""", mini_catalog)
    assert "adds 'tap-uso' without a source" in err.problem
    assert err.place == "platform[1].add"


def test_requires_is_enforced(tmp_path: Path, mini_catalog: Catalog) -> None:
    err = _error(tmp_path, BASE.replace('"tap-vnet-hdr"', '"tap-uso"'), mini_catalog)
    assert "'tap-uso' requires 'tap-vnet-hdr'" in err.problem


def test_duplicate_name_across_directories(tmp_path: Path, mini_catalog: Catalog) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "a.toml").write_text(BASE)
    (tmp_path / "two" / "a.toml").write_text(BASE)
    with pytest.raises(DataFileError) as exc:
        load_platforms([tmp_path / "one", tmp_path / "two"], catalog=mini_catalog, env={}, system=None,
                       packaged=False)
    assert "already defined in" in exc.value.problem


def test_env_path_and_missing_dir(tmp_path: Path, mini_catalog: Catalog) -> None:
    (tmp_path / "a.toml").write_text(BASE)
    ps = load_platforms([], catalog=mini_catalog, env={"VMPLATFORM_PATH": str(tmp_path)}, system=None,
                        packaged=False)
    assert ps.names() == ["a"]
    with pytest.raises(DataFileError, match="platform directory does not exist"):
        load_platforms([tmp_path / "nope"], catalog=mini_catalog, env={}, system=None, packaged=False)


def test_unknown_platform_suggests(mini_platforms: PlatformSet) -> None:
    with pytest.raises(UnknownNameError) as exc:
        mini_platforms.get("t-6.3")
    assert "unknown platform 't-6.3' (did you mean" in str(exc.value)
