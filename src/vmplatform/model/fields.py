"""One reader for the fields of parsed documents.

Data files (TOML), host reports, manifests and machine catalogs are parsed
into dicts and lists first; a :class:`Fields` is a view over one mapping of
such a document that knows where it is and reads its fields typed and
checked. Every problem is raised as the document's own
:class:`~vmplatform.errors.FileFormatError` subclass, naming the source, the
place and, for a document whose text can be searched (TOML), the line, in
one phrasing for every format::

    SOURCE[:LINE]: PLACE: missing
    SOURCE[:LINE]: PLACE: must be a string, not an integer
    SOURCE[:LINE]: PLACE: 'x' is not one of a, b, c
    SOURCE[:LINE]: PLACE: unknown key 'k' (allowed: a, b)

A value that is absent and one that is ``null`` (JSON) read the same:
missing, or the default when there is one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from vmplatform.errors import FileFormatError

if TYPE_CHECKING:
    import datetime
    import enum

    T = TypeVar("T")
    E = TypeVar("E", bound=enum.Enum)


class Document:
    """What the errors of one document share: its source, error class and hint, and its words.

    ``text`` (or, when it is None and ``searchable``, the file at ``source``,
    read only when an error needs it) lets an error name the line of the
    offending key or value. ``mapping`` is what the format calls a mapping:
    "table" (TOML) or "object" (JSON).
    """

    __slots__ = ("source", "error_class", "hint", "mapping", "searchable", "_text")

    def __init__(self, source: str, error_class: type[FileFormatError], *, hint: str = "",
                 mapping: str = "object", text: str | None = None, searchable: bool = False) -> None:
        self.source = source
        self.error_class = error_class
        self.hint = hint
        self.mapping = mapping
        self.searchable = searchable or text is not None
        self._text = text

    def error(self, place: str, problem: str, line: int | None = None) -> FileFormatError:
        return self.error_class(self.source, place, problem, line, self.hint)

    def fields(self, value: object, place: str = "") -> Fields:
        """``value`` as a Fields view; anything but a mapping is an error at ``place``."""
        if not isinstance(value, Mapping):
            raise self.error(place, "missing" if value is None else
                             f"must be {_article(self.mapping)}, not {kind_of(value, self.mapping)}")
        return Fields(value, self, place)

    def line_of(self, *needles: str | None) -> int | None:
        """The first line holding the first needle found (outside a comment), best effort."""
        if not self.searchable:
            return None
        if self._text is None:
            from pathlib import Path

            try:
                self._text = Path(self.source).read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._text = ""
        lines = self._text.splitlines()
        for needle in needles:
            if not needle:
                continue
            pat = re.compile(r"(^|[\s\"'\[,{])" + re.escape(needle) + r"([\s\"'\],}=]|$)")
            for n, line in enumerate(lines, start=1):
                if pat.search(line.split("#", 1)[0]):
                    return n
        return None


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def kind_of(value: object, mapping: str = "object") -> str:
    """What ``value`` is, in the words of a person reading the file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return _article(mapping)
    name = type(value).__name__
    return {"date": "a date", "datetime": "a date-time", "time": "a time"}.get(name, _article(name))


class Fields:
    """One mapping of a document, with typed getters whose errors name source, place and line.

    ``default`` None means required. :meth:`optional` reads any getter's
    value or None when the key is absent.
    """

    __slots__ = ("data", "doc", "place")

    def __init__(self, data: Mapping[str, Any], doc: Document, place: str = "") -> None:
        self.data = data
        self.doc = doc
        self.place = place

    @property
    def source(self) -> str:
        return self.doc.source

    # -- errors ---------------------------------------------------------------
    def at(self, key: str) -> str:
        """The place of ``key`` in the document."""
        if not key:
            return self.place
        return f"{self.place}.{key}" if self.place else key

    def error(self, key: str, problem: str, needle: str | None = None) -> FileFormatError:
        """An error at ``key`` (its line: where ``needle``, else the key, first appears)."""
        last = key.split(".")[-1].split("[")[0] if key else None
        return self.doc.error(self.at(key), problem, self.doc.line_of(needle, last))

    def _wrong(self, key: str, expected: str, value: object) -> FileFormatError:
        return self.error(key, f"must be {expected}, not {kind_of(value, self.doc.mapping)}")

    def _missing(self, key: str, problem: str = "missing") -> FileFormatError:
        return self.doc.error(self.at(key), problem)   # no line: none holds a key that is not there

    def _get(self, key: str, default: object) -> object:
        value = self.data.get(key)
        if value is None:
            if default is None:
                raise self._missing(key)
            return default
        return value

    # -- structure ------------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self.data)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str) -> object:
        """The raw value (None when absent), for a reader that checks it itself."""
        return self.data.get(key)

    def check_keys(self, allowed: Iterable[str]) -> None:
        """Refuse a key this document does not define (a typo would otherwise be ignored)."""
        known = set(allowed)
        for key in self.data:
            if key not in known:
                raise self.error(key, f"unknown key '{key}' (allowed: {', '.join(sorted(known))})")

    def table(self, key: str, required: bool = False) -> Fields:
        """The mapping at ``key``; absent gives an empty one unless ``required``."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self._missing(key)
            value = {}
        if not isinstance(value, Mapping):
            raise self._wrong(key, _article(self.doc.mapping), value)
        return Fields(value, self.doc, self.at(key))

    def items(self, key: str, required: bool = False) -> list[Any]:
        """The list at ``key``, its elements unchecked; absent gives [] unless ``required``."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self._missing(key)
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "a list", value)
        return value

    def tables(self, key: str, required: bool = False) -> Iterator[Fields]:
        """Each mapping of the list at ``key`` (TOML: ``[[key]]``)."""
        for i, item in enumerate(self.items(key, required)):
            place = f"{self.at(key)}[{i}]"
            if not isinstance(item, Mapping):
                what = f"must be {_article(self.doc.mapping)}, not {kind_of(item, self.doc.mapping)}"
                raise self.doc.error(place, what, self.doc.line_of(key))
            yield Fields(item, self.doc, place)

    # -- scalars --------------------------------------------------------------
    def text(self, key: str, default: str | None = None) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._wrong(key, "a string", value)
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._wrong(key, "an integer", value)
        return value

    def number(self, key: str, default: float | None = None) -> float:
        value = self._get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self._wrong(key, "a number", value)
        return float(value)

    def flag(self, key: str, default: bool | None = None) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false", value)
        return value

    def date(self, key: str) -> datetime.date:
        import datetime

        value = self.data.get(key)
        if value is None:
            raise self._missing(key, "missing (a TOML date such as 2023-02-19)")
        if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
            raise self.error(key, f"must be a TOML date such as 2023-02-19, not {value!r}")
        return value

    def choice(self, key: str, enum_type: type[E], default: E | None = None) -> E:
        """The member of ``enum_type`` whose value the text at ``key`` is."""
        value = self.text(key, None if default is None else str(default.value))
        for member in enum_type:
            if member.value == value:
                return member
        raise self.error(key, f"'{value}' is not one of {', '.join(str(m.value) for m in enum_type)}", value)

    def strings(self, key: str, default: tuple[str, ...] | None = ()) -> tuple[str, ...]:
        """A list of strings; absent gives ``default`` (None: required)."""
        value = self.data.get(key)
        if value is None:
            if default is None:
                raise self._missing(key)
            return default
        if not isinstance(value, list):
            raise self._wrong(key, "a list of strings", value)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{key}[{i}]", f"must be a string, not {kind_of(item, self.doc.mapping)}")
        return tuple(value)

    def str_map(self, key: str) -> dict[str, str]:
        """A mapping of strings to strings; absent gives {}."""
        sub = self.table(key)
        return {k: sub.text(k) for k in sub.keys()}

    def optional(self, get: Callable[[str], T], key: str) -> T | None:
        """``get(key)`` when the key is present, else None."""
        return None if self.data.get(key) is None else get(key)
