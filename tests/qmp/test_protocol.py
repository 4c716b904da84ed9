"""The QMP wire format without any I/O: framing, request checks, reply splicing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmplatform.qmp.protocol import (
    Command,
    InputError,
    JsonSplitter,
    ParseError,
    check_command,
    encode_command,
    error_reply,
    return_reply,
    split_reply_id,
    without_id,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


def feed_in_pieces(data: bytes, cuts: list[int]) -> list[object]:
    splitter = JsonSplitter()
    out: list[object] = []
    last = 0
    for cut in sorted(set(c % (len(data) + 1) for c in cuts)) + [len(data)]:
        out += splitter.feed(data[last:cut])
        last = cut
    return out


@given(st.lists(json_objects, max_size=6), st.sampled_from([b"\n", b"\r\n", b"", b" ", b"\n\n"]),
       st.booleans(), st.lists(st.integers(min_value=0), max_size=8))
def test_any_stream_of_objects_splits_back_into_them(objs: list[dict[str, Any]], sep: bytes, pretty: bool,
                                                     cuts: list[int]) -> None:
    texts = [json.dumps(o, indent=1 if pretty else None, ensure_ascii=False).encode() for o in objs]
    data = sep.join(texts) + b"\n"
    assert feed_in_pieces(data, cuts) == objs


@given(st.binary(max_size=60) | st.text("{}[]\"'\\ ,:ab1\n\xff\x01").map(lambda s: s.encode("utf-8", "replace")),
       st.lists(st.integers(min_value=0), max_size=6))
@settings(max_examples=400)
def test_framing_does_not_depend_on_how_bytes_arrive(data: bytes, cuts: list[int]) -> None:
    assert feed_in_pieces(data, cuts) == feed_in_pieces(data, [])


@given(st.binary(max_size=40), json_objects.filter(bool))
def test_a_reset_byte_and_newline_recover_from_any_garbage(garbage: bytes, obj: dict[str, Any]) -> None:
    frames = JsonSplitter().feed(garbage + b"\xff\n" + json.dumps(obj).encode() + b"\n")
    assert frames[-1] == obj
    assert any(isinstance(f, ParseError) for f in frames)


@pytest.mark.parametrize("data, expected", [
    (b"garbage\n", ["JSON parse error, invalid keyword 'garbage'"]),
    (b"NaN\n", ["JSON parse error, invalid keyword 'NaN'"]),
    (b"\xff\xfe\n", ["JSON parse error, stray '\ufffd'"]),
    (b'{"a": 1, "a": 2}\n', ["JSON parse error, duplicate key"]),
    (b"}\n]\n", ["JSON parse error, expecting value"] * 2),
    (b'{"a": "x\ny"}\n{"ok": 1}\n', ["JSON parse error, stray '\n' in string", {"ok": 1}]),
    (b'{"a": garbage}\n', ["JSON parse error, expecting value"]),
    (b'{"a": 1}{"b": 2}', [{"a": 1}, {"b": 2}]),
    (b"{'execute': 'x', 'id': 'it\\'s \"q\"'}", [{"execute": "x", "id": "it's \"q\""}]),
    (b'"str" 12 true\n', ["str", 12, True]),
    (b'{"a": "\xc3\xa9"}\n', [{"a": "\u00e9"}]),
    (b'{"a": "\xc3"}\n', ["JSON parse error, invalid UTF-8 sequence in string"]),
])
def test_bad_input_gets_qemus_messages(data: bytes, expected: list[object]) -> None:
    frames = JsonSplitter().feed(data)
    assert [f.desc if isinstance(f, ParseError) else f for f in frames] == expected


def test_limits_abandon_the_value_and_skip_its_line() -> None:
    splitter = JsonSplitter(max_size=100, max_nesting=8)
    frames = splitter.feed(b'{"a": "' + b"x" * 200 + b'"}\n' + b"[" * 20 + b"]" * 20 + b'\n{"ok": 1}\n')
    assert frames == [ParseError("JSON token size limit exceeded"),
                      ParseError("JSON nesting depth limit exceeded"), {"ok": 1}]
    assert splitter.idle


def test_deep_nesting_within_the_limit_is_an_error_not_a_crash() -> None:
    frames = JsonSplitter().feed(b"[" * 1020 + b"]" * 1020 + b"\n")
    assert frames == [ParseError("JSON nesting depth limit exceeded")]


@pytest.mark.parametrize("obj, expected", [
    ([1], InputError("QMP input must be a JSON object", False, None)),
    ({"id": 1}, InputError("QMP input lacks member 'execute'", True, 1)),
    ({"execute": 1}, InputError("QMP input member 'execute' must be a string", False, None)),
    ({"execute": "x", "arguments": 1, "id": None},
     InputError("QMP input member 'arguments' must be an object", True, None)),
    ({"execute": "x", "exec-oob": "y"}, InputError("QMP input member 'exec-oob' is unexpected", False, None)),
    ({"execute": "x", "arguments": {"a": 1}, "id": [2]}, Command("x", {"a": 1}, True, [2])),
    ({"execute": "x"}, Command("x", None, False, None)),
])
def test_check_command_mirrors_qemu(obj: object, expected: object) -> None:
    assert check_command(obj) == expected


@given(json_objects, st.integers(min_value=0, max_value=2**62), json_values)
def test_reply_id_splice_is_sound(obj: dict[str, Any], upid: int, client_id: Any) -> None:
    """Whatever the payload (even nested "id" members), a found id is the top-level one."""
    for shaped in ({**obj, "id": upid}, {"id": upid, **obj}, obj):
        line = json.dumps(shaped).encode()
        hit = split_reply_id(line)
        if hit is None:
            continue
        n, head, tail = hit
        assert shaped.get("id") == n
        assert json.loads(head + json.dumps(client_id).encode() + tail) == {**shaped, "id": client_id}
        rest = {k: v for k, v in shaped.items() if k != "id"}
        assert json.loads(without_id(head, tail)) == rest


def test_qemus_reply_shapes_take_the_fast_path() -> None:
    assert split_reply_id(b'{"return": {"status": "prelaunch", "running": false}, "id": 17}') is not None
    assert split_reply_id(b'{"id": 5, "error": {"class": "GenericError", "desc": "x"}}') is not None
    assert split_reply_id(b'{"timestamp": {"seconds": 1}, "event": "STOP"}') is None


def test_the_id_found_is_the_top_level_one() -> None:
    assert split_reply_id(b'{"return": {"a": 1, "id": 2}, "id": 3}') == \
        (3, b'{"return": {"a": 1, "id": 2}, "id": ', b"}")
    assert split_reply_id(b'{"id": 4, "error": {"class": "x", "desc": "d"}}') == \
        (4, b'{"id": ', b', "error": {"class": "x", "desc": "d"}}')
    # not an object: nothing to splice (the caller parses, and drops, it)
    assert split_reply_id(b', "id": 5}') is None


def test_commands_for_qemu_carry_the_endpoints_id() -> None:
    assert encode_command("query-status", None, 7) == b'{"execute": "query-status", "id": 7}\r\n'
    assert encode_command('odd"name', None, 8) == b'{"execute": "odd\\"name", "id": 8}\r\n'
    # arguments follow the id; non-ASCII text goes as UTF-8, as QEMU reads it
    assert encode_command("qom-get", {"path": "/\u00e9", "n": [1]}, 9) == \
        '{"execute": "qom-get", "id": 9, "arguments": {"path": "/\u00e9", "n": [1]}}\r\n'.encode()
    assert encode_command("x", {}, 10) == b'{"execute": "x", "id": 10, "arguments": {}}\r\n'


def test_a_command_qemu_could_not_parse_is_refused_before_it_is_sent() -> None:
    """A lone surrogate: QEMU's reply would carry no id, so it is QEMU's error, given here."""
    with pytest.raises(ValueError) as err:
        encode_command("x", {"s": "a\ud800"}, 1)
    assert str(err.value) == "JSON parse error, \\ud800 is not a valid Unicode character"


def test_replies_are_formatted_like_qemus() -> None:
    assert return_reply(b"{}", b"1") == b'{"return": {}, "id": 1}\r\n'
    assert return_reply(b"[]") == b'{"return": []}\r\n'
    assert error_reply("GenericError", "no") == b'{"error": {"class": "GenericError", "desc": "no"}}\r\n'
    assert error_reply("CommandNotFound", "x", b'"a"') == \
        b'{"id": "a", "error": {"class": "CommandNotFound", "desc": "x"}}\r\n'
