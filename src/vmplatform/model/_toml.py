"""Validated access to TOML data files.

Every accessor raises :class:`DataFileError` naming the file, the key path
and, when it can be found, the line, so a malformed file is never a traceback.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from vmplatform.errors import DataFileError

DATA_DIR = Path(__file__).parent.parent / "data"   # vmplatform/data
_LINE_COL = re.compile(r"\(at line (\d+), column (\d+)\)")

TYPE_CHECKING = False  # typing costs ~5 ms of CLI start-up; only mypy needs it
if TYPE_CHECKING:
    from typing import Any



def load(path: Path) -> Table:
    """Parse ``path``; a syntax error becomes a DataFileError with its line.

    tomllib is pure Python and costs milliseconds per file on every CLI run.
    The packaged data files are therefore compiled to JSON when the package is
    installed (:func:`compile_packaged`, run by scripts/setup-host); a compiled
    file is used only while it matches its source's size and checksum, so an
    edited source is always read itself. Files from outside the package are
    always parsed, and nothing is ever written at run time.
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataFileError(str(path), "", f"cannot read: {err.strerror}") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataFileError(str(path), "", "not UTF-8 text") from err
    compiled = _read_compiled(path, raw)
    if compiled is not None:
        return Table(compiled, str(path), "", text)
    return Table(_parse(text, str(path)), str(path), "", text)


def _parse(text: str, where: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = _LINE_COL.search(str(err))
        line = int(m.group(1)) if m else None
        problem = _LINE_COL.sub("", str(err)).strip()
        raise DataFileError(where, "", f"TOML syntax error: {problem}", line=line) from err
    except RecursionError as err:  # tomllib recurses per nested array or inline table
        raise DataFileError(where, "", "TOML syntax error: arrays or tables nested too deeply to be read") from err


# -- packaged data, compiled at install time -----------------------------------
COMPILED_DIR = DATA_DIR / "compiled"


def _compiled_path(path: Path) -> Path | None:
    try:
        rel = path.resolve().relative_to(DATA_DIR.resolve())
    except ValueError:
        return None  # not a packaged file
    return COMPILED_DIR / (str(rel).replace(os.sep, "__") + ".json")


def _stamp(raw: bytes) -> str:
    return f"{len(raw)}-{zlib.crc32(raw):08x}"


def _read_compiled(path: Path, raw: bytes) -> dict[str, Any] | None:
    target = _compiled_path(path)
    if target is None:
        return None
    try:
        with open(target, encoding="utf-8") as fh:
            obj = json.load(fh, object_hook=_decode)
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict) or obj.get("source") != _stamp(raw) or not isinstance(obj.get("data"), dict):
        return None
    data: dict[str, Any] = obj["data"]
    return data


def packaged_sources() -> list[Path]:
    return sorted(DATA_DIR.rglob("*.toml"))


def compile_packaged() -> list[Path]:
    """Compile every packaged TOML file to JSON next to it (install time); returns what was written."""
    COMPILED_DIR.mkdir(exist_ok=True)
    written = []
    for src in packaged_sources():
        raw = src.read_bytes()
        data = _parse(raw.decode("utf-8"), str(src))
        target = _compiled_path(src)
        assert target is not None
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"source": _stamp(raw), "data": data}, default=_encode),
                       encoding="utf-8")
        os.replace(tmp, target)
        written.append(target)
    return written


def _encode(value: object) -> object:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return {"__date__": value.isoformat()}
    if isinstance(value, datetime.datetime):
        return {"__datetime__": value.isoformat()}
    raise TypeError(f"cannot encode {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> object:
    if len(obj) == 1:
        if "__date__" in obj:
            return datetime.date.fromisoformat(obj["__date__"])
        if "__datetime__" in obj:
            return datetime.datetime.fromisoformat(obj["__datetime__"])
    return obj


class Table:
    """A TOML table plus where it came from, with typed, checked getters."""

    def __init__(self, data: dict[str, Any], path: str, place: str, text: str | None) -> None:
        self.data = data
        self.path = path
        self.place = place
        self._text_cache = text

    @property
    def _text(self) -> str:
        """The file's text, read only when an error needs a line number."""
        if self._text_cache is None:
            try:
                self._text_cache = Path(self.path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._text_cache = ""
        return self._text_cache

    # -- errors -------------------------------------------------------------
    def error(self, key: str, problem: str, needle: str | None = None) -> DataFileError:
        place = self._join(key)
        return DataFileError(self.path, place, problem, line=self._find_line(key, needle))

    def _join(self, key: str) -> str:
        if not key:
            return self.place
        return f"{self.place}.{key}" if self.place else key

    def _find_line(self, key: str, needle: str | None) -> int | None:
        """Best-effort line lookup: the first line holding the offending value or key."""
        for probe in (needle, key.split(".")[-1].split("[")[0] if key else None):
            if not probe:
                continue
            pat = re.compile(r"(^|[\s\"'\[,{])" + re.escape(probe) + r"([\s\"'\],}=]|$)")
            for n, line in enumerate(self._text.splitlines(), start=1):
                if pat.search(line.split("#", 1)[0]):
                    return n
        return None

    # -- structure ----------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self.data)

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.error(key, f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")

    def table(self, key: str, required: bool = False) -> Table:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, f"missing table '{key}'")
            return Table({}, self.path, self._join(key), self._text_cache)
        if not isinstance(value, dict):
            raise self.error(key, f"'{key}' must be a table")
        return Table(value, self.path, self._join(key), self._text_cache)

    def tables(self, key: str) -> Iterator[Table]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, f"'{key}' must be an array of tables ([[{key}]])")
        for i, item in enumerate(value):
            yield Table(item, self.path, f"{self._join(key)}[{i}]", self._text_cache)

    # -- scalars ------------------------------------------------------------
    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise self.error(key, f"missing required key '{key}'")
        if not isinstance(value, str):
            raise self.error(key, f"'{key}' must be a string, not {type(value).__name__}")
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if value is None:
            raise self.error(key, f"missing required key '{key}'")
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(key, f"'{key}' must be an integer, not {type(value).__name__}")
        return value

    def opt_int(self, key: str) -> int | None:
        return None if key not in self.data else self.integer(key)

    def date(self, key: str) -> datetime.date:
        value = self.data.get(key)
        if value is None:
            raise self.error(key, f"missing required key '{key}' (a TOML date such as 2023-02-19)")
        if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
            raise self.error(key, f"'{key}' must be a TOML date such as 2023-02-19, not {value!r}")
        return value

    def str_list(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"'{key}' must be a list of strings")
        return tuple(value)

    def str_map(self, key: str) -> dict[str, str]:
        sub = self.table(key)
        out: dict[str, str] = {}
        for k in sub.keys():
            out[k] = sub.text(k)
        return out


if __name__ == "__main__":
    for written in compile_packaged():
        print(written)
