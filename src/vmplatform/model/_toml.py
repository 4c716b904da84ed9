"""TOML data files, read into :class:`~vmplatform.model.fields.Fields`.

Every getter raises :class:`DataFileError` naming the file, the key path
and, when it can be found, the line, so a malformed file is never a traceback.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import zlib
from pathlib import Path
from typing import Any

from vmplatform.errors import DataFileError
from vmplatform.model.fields import Document, Fields

DATA_DIR = Path(__file__).parent.parent / "data"   # vmplatform/data
_LINE_COL = re.compile(r"\(at line (\d+), column (\d+)\)")


def load(path: Path) -> Fields:
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
    data = compiled if compiled is not None else _parse(text, str(path))
    return Fields(data, Document(str(path), DataFileError, mapping="table", text=text))


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


def source_stamps(sources: list[Path]) -> dict[str, str] | None:
    """Each packaged source (path relative to the data directory) with its stamp; None if one is unreadable."""
    out = {}
    for src in sources:
        try:
            with open(src, "rb") as fh:
                out[os.path.relpath(src, DATA_DIR)] = _stamp(fh.read())
        except OSError:
            return None
    return out


def write_compiled(target: Path, sources: dict[str, str] | None, data: dict[str, Any]) -> Path:
    """Write build-time data derived from packaged ``sources`` (their stamps) to ``target``, atomically."""
    assert sources is not None, "a packaged source is unreadable"
    return write_atomically(target, json.dumps({"sources": sources, "data": data}, separators=(",", ":")).encode())


def write_atomically(target: Path, payload: bytes) -> Path:
    """Write a compiled file under :data:`COMPILED_DIR` whole or not at all: a reader, or a build running
    beside this one, never sees half of it."""
    COMPILED_DIR.mkdir(exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, target)
    return target


def read_compiled(target: Path, sources: list[Path]) -> dict[str, Any] | None:
    """The data :func:`write_compiled` wrote, if it was derived from exactly ``sources`` as they are now."""
    try:
        with open(target, encoding="utf-8") as fh:
            obj = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), dict):
        return None
    if obj.get("sources") != source_stamps(sources):
        return None
    data: dict[str, Any] = obj["data"]
    return data


def compile_all() -> list[Path]:
    """The build step: every packaged TOML file as JSON, then the validated catalog and the resolved
    packaged platform set derived from them, and the packaged machine snapshots in parts."""
    from vmplatform.model.features import compile_catalog
    from vmplatform.model.machines import compile_machine_catalogs
    from vmplatform.model.platforms import compile_platforms

    return [*compile_packaged(), compile_catalog(), compile_platforms(), *compile_machine_catalogs()]


def packaged_sources() -> list[Path]:
    return sorted(DATA_DIR.rglob("*.toml"))


def compile_packaged() -> list[Path]:
    """Compile every packaged TOML file to JSON next to it (install time); returns what was written."""
    written = []
    for src in packaged_sources():
        raw = src.read_bytes()
        data = _parse(raw.decode("utf-8"), str(src))
        target = _compiled_path(src)
        assert target is not None
        written.append(write_atomically(target, json.dumps({"source": _stamp(raw), "data": data},
                                                           default=_encode).encode()))
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


if __name__ == "__main__":
    for written in compile_all():
        print(written)
