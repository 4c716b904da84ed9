"""The one field reader: each getter's value, and its error's class, place, line and phrasing."""

from __future__ import annotations

import datetime
import enum
from pathlib import Path

import pytest

from vmplatform.errors import DataFileError, FileFormatError, HostReportError
from vmplatform.model import _toml
from vmplatform.model.fields import Document, Fields, kind_of


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


def _json(data: dict[str, object]) -> Fields:
    return Fields(data, Document("r.json", HostReportError, hint="make a new one"))


def _problem(call: object) -> FileFormatError:
    with pytest.raises(FileFormatError) as info:
        call()  # type: ignore[operator]
    return info.value


def test_values_are_read_typed() -> None:
    f = _json({"s": "x", "i": 3, "n": 1, "b": False, "l": ["a", "b"], "t": {"k": "v"}, "c": "blue",
               "ts": [{"a": 1}, {"a": 2}]})
    assert (f.text("s"), f.integer("i"), f.number("n"), f.flag("b")) == ("x", 3, 1.0, False)
    assert f.strings("l") == ("a", "b") and f.str_map("t") == {"k": "v"}
    assert f.choice("c", Colour) is Colour.BLUE
    assert [t.integer("a") for t in f.tables("ts")] == [1, 2]
    assert [t.place for t in f.tables("ts")] == ["ts[0]", "ts[1]"]
    assert f.table("t").place == "t" and f.table("t").table("deeper").place == "t.deeper"


def test_absent_and_null_give_the_default_or_missing() -> None:
    f = _json({"null": None})
    assert (f.text("gone", "d"), f.text("null", "d"), f.integer("gone", 7), f.flag("null", True)) == ("d", "d", 7, True)
    assert (f.strings("gone"), f.str_map("gone"), f.items("gone"), list(f.tables("gone"))) == ((), {}, [], [])
    assert f.optional(f.integer, "gone") is None and f.optional(f.text, "null") is None
    assert f.choice("gone", Colour, Colour.RED) is Colour.RED
    for call in (lambda: f.text("gone"), lambda: f.integer("null"), lambda: f.table("gone", required=True),
                 lambda: f.items("gone", required=True), lambda: f.strings("gone", None)):
        err = _problem(call)
        assert err.problem == "missing"


@pytest.mark.parametrize("call, place, problem", [
    (lambda f: f.text("i"), "top.i", "must be a string, not an integer"),
    (lambda f: f.integer("b"), "top.b", "must be an integer, not true/false"),
    (lambda f: f.integer("s"), "top.s", "must be an integer, not a string"),
    (lambda f: f.number("l"), "top.l", "must be a number, not a list"),
    (lambda f: f.flag("s"), "top.s", "must be true or false, not a string"),
    (lambda f: f.table("s"), "top.s", "must be an object, not a string"),
    (lambda f: f.items("t"), "top.t", "must be a list, not an object"),
    (lambda f: list(f.tables("l")), "top.l[0]", "must be an object, not an integer"),
    (lambda f: f.strings("l"), "top.l[0]", "must be a string, not an integer"),
    (lambda f: f.strings("s"), "top.s", "must be a list of strings, not a string"),
    (lambda f: f.str_map("t"), "top.t.k", "must be a string, not an integer"),
    (lambda f: f.choice("s", Colour), "top.s", "'x' is not one of red, blue"),
    (lambda f: f.check_keys({"s", "i"}), "top.b", "unknown key 'b' (allowed: i, s)"),
])
def test_errors_name_the_place_and_what_was_found(call: object, place: str, problem: str) -> None:
    f = Fields({"s": "x", "i": 3, "b": True, "l": [1], "t": {"k": 1}},
               Document("r.json", HostReportError, hint="make a new one"), "top")
    err = _problem(lambda: call(f))  # type: ignore[operator]
    assert type(err) is HostReportError
    assert (err.source, err.place, err.problem, err.line, err.hint) == ("r.json", place, problem, None,
                                                                        "make a new one")
    assert err.message == f"r.json: {place}: {problem}"


def test_a_document_refuses_a_top_level_that_is_no_mapping() -> None:
    doc = Document("r.json", HostReportError)
    assert doc.fields({"a": 1}, "x").place == "x"
    assert _problem(lambda: doc.fields([1], "top level")).message == "r.json: top level: must be an object, not a list"
    assert _problem(lambda: doc.fields(None, "host")).message == "r.json: host: missing"


def test_toml_errors_carry_the_line_and_toml_words(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[[platform]]\nname = "a"\n\n[[platform]]\nname = "b"\nadd = "tap-uso"\ncolour = 1\n'
                    "released = 2020-01-01\n")
    root = _toml.load(path)
    second = list(root.tables("platform"))[1]
    err = _problem(lambda: second.strings("add"))
    assert type(err) is DataFileError
    assert (err.place, err.line, err.problem) == ("platform[1].add", 6, "must be a list of strings, not a string")
    assert err.message.startswith(f"{path}:6: platform[1].add: ")
    assert err.hint  # DataFileError's own hint
    err = _problem(lambda: second.check_keys({"name", "add", "released"}))
    assert (err.place, err.line) == ("platform[1].colour", 7)
    assert _problem(lambda: second.table("name")).problem == "must be a table, not a string"
    assert second.date("released") == datetime.date(2020, 1, 1)
    assert _problem(lambda: second.date("name")).problem == "must be a TOML date such as 2023-02-19, not 'b'"
    # an error may point at the offending value rather than the key
    assert second.error("colour", "bad colour", needle="2020-01-01").line == 8
    assert second.error("colour", "bad colour", needle="nowhere").line == 7


def test_the_words_for_what_was_found() -> None:
    values: tuple[object, ...] = (None, True, 1, 1.5, "", [], {})
    assert [kind_of(v) for v in values] == [
        "null", "true/false", "an integer", "a number", "a string", "a list", "an object"]
    assert kind_of({}, "table") == "a table"
    assert kind_of(datetime.date(2020, 1, 1)) == "a date"
    assert kind_of(datetime.datetime(2020, 1, 1)) == "a date-time"


def test_a_machine_catalog_is_read_by_the_same_reader() -> None:
    from vmplatform.model.machines import SCHEMA, from_json_obj

    def message(obj: dict[str, object]) -> str:
        return _problem(lambda: from_json_obj(obj, "m.json").get("pc")).message

    good = {"schema": SCHEMA, "machines": [{"name": "pc", "compat-props": [
        {"qom-type": "virtio-net-device", "property": "host_uso", "value": "off"}]}]}
    assert from_json_obj(good, "m.json").get("pc").compat_props[0].value == "off"
    assert message({"schema": "x"}) == "m.json: schema: not a machine catalog (expected schema " \
                                      f"{SCHEMA!r})"
    assert message({"schema": SCHEMA, "machines": [{"name": 3}]}) == \
        "m.json: machines[0].name: must be a string, not an integer"
    assert message({"schema": SCHEMA, "machines": [{"name": "pc", "compat-props": [{"qom-type": "t"}]}]}) == \
        "m.json: machines[0].compat-props[0].property: missing"
    assert message({**good, "options": {"flags": "-S"}}) == \
        "m.json: options.flags: must be a list of strings, not a string"
    assert message({**good, "device-defaults": {"virtio-net-device": 1}}) == \
        "m.json: device-defaults.virtio-net-device: must be an object, not an integer"
