"""QMP wire format, independent of any connection: framing, validation, replies.

Nothing here does I/O or knows about QEMU processes, platforms or asyncio;
the endpoint (:mod:`vmplatform.qmp.endpoint`) builds on it.

Framing follows QEMU, not "one JSON text per line": QEMU's JSON streamer
(qobject/json-streamer.c) cuts its input into top-level values by counting
brackets, so a command may span lines, two commands may share one, and
QEMU's single-quoted strings are accepted. :class:`JsonSplitter` does the
same, with a fast path for the common case (whole lines, each one JSON
text, as ``qemu.qmp`` and socat users send them) that costs one
``json.loads`` per message.

Recovery from bad input also follows QEMU: a malformed value produces one
``{"error": {"class": "GenericError", "desc": "JSON parse error, ..."}}``
and the splitter resynchronises at the next newline, ``{`` or ``[``, so one
bad message never poisons the ones after it. An ASCII control character or
the bytes 0xFE/0xFF inside a value abandon it at once: the way the QMP spec
tells clients to reset the server's parser.

Validation of a parsed value mirrors ``qmp_dispatch_check_obj`` in QEMU's
qapi/qmp-dispatch.c (out-of-band execution not offered), with QEMU's own
error messages, so a client cannot tell the endpoint's rejections from
QEMU's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

#: QEMU's limits (qobject/json-streamer.c: MAX_TOKEN_SIZE, MAX_NESTING).
MAX_VALUE_SIZE: Final = 64 << 20
MAX_NESTING: Final = 1024

GENERIC_ERROR: Final = "GenericError"
COMMAND_NOT_FOUND: Final = "CommandNotFound"

NEEDS_NEGOTIATION: Final = "Expecting capabilities negotiation with 'qmp_capabilities'"
ALREADY_NEGOTIATED: Final = "Capabilities negotiation is already complete, command ignored"
NOT_AN_OBJECT: Final = "QMP input must be a JSON object"


@dataclass(frozen=True, slots=True)
class ParseError:
    """One value of the stream could not be parsed; ``desc`` is QMP's error text."""

    desc: str


#: What :meth:`JsonSplitter.feed` yields: a parsed JSON value or a parse error.
Frame = object


@dataclass(frozen=True, slots=True)
class Command:
    """A request that passed QMP's checks."""

    execute: str
    arguments: dict[str, Any] | None
    has_id: bool
    id: Any  # any JSON value; meaningful only when has_id


@dataclass(frozen=True, slots=True)
class InputError:
    """A request QMP rejects before looking up the command (QEMU's wording)."""

    desc: str
    has_id: bool
    id: Any


# ---------------------------------------------------------------- parsing ---

class _Invalid(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Invalid("duplicate key")
    return obj


def _constant(name: str) -> Any:
    # json accepts NaN and Infinity; QMP (and QEMU's parser) does not.
    raise _Invalid(f"invalid keyword '{name}'")


def _finite(text: str) -> float:
    # 1e400 would become inf, which has no JSON spelling to pass on.
    value = float(text)
    if value in (_INF, -_INF):
        raise _Invalid(f"number {text} is out of range")
    return value


_INF: Final = float("inf")
_DECODER: Final = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_finite)
_decode: Final = _DECODER.decode


def parse_text(text: str) -> Frame:
    """Parse one complete JSON text; a bad one becomes a :class:`ParseError`."""
    try:
        return _decode(text)
    except _Invalid as err:
        return ParseError(f"JSON parse error, {err}")
    except json.JSONDecodeError as err:
        stripped = text.strip()
        if stripped and _TOKEN.fullmatch(stripped.encode("utf-8", "replace")):
            return ParseError(f"JSON parse error, invalid keyword '{stripped}'")
        return ParseError(f"JSON parse error, {err.msg[:1].lower()}{err.msg[1:]}")
    except RecursionError:
        return ParseError("JSON nesting depth limit exceeded")


# -------------------------------------------------------------- splitting ---

_WS: Final = frozenset(b" \t\r\n")
_TOKEN_CHARS: Final = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._")
_TOKEN: Final = re.compile(rb"[A-Za-z0-9+\-._]+")
# Runs of bytes that cannot change the splitter's state.
_PLAIN_IN_VALUE: Final = re.compile(rb"[^\"'{}\[\]\x00-\x1f\xfe\xff]+")
_PLAIN_IN_DQ: Final = re.compile(rb"[^\"\\\x00-\x1f\xfe\xff]+")
_PLAIN_IN_SQ: Final = re.compile(rb"[^'\"\\\x00-\x1f\xfe\xff]+")
_RESYNC: Final = re.compile(rb"[\n{\[]")
_RESYNC_LINE: Final = re.compile(rb"\n")

# Splitter states.
_TOP, _VALUE, _DQ, _SQ, _BARE, _RECOVER = range(6)


def _shown(b: int) -> str:
    """A byte the way QEMU's lexer error shows it (undecodable bytes as U+FFFD)."""
    return "\ufffd" if b >= 0x80 else chr(b)


class JsonSplitter:
    """Cut a byte stream into top-level JSON values, the way QEMU does.

    ``feed(data)`` returns the values (and :class:`ParseError`\\ s) completed
    by ``data``, in order; an incomplete value is kept for the next call.
    Memory is bounded: a value larger than ``max_size`` bytes or nested
    deeper than ``max_nesting`` is abandoned with an error, as in QEMU.
    """

    def __init__(self, max_size: int = MAX_VALUE_SIZE, max_nesting: int = MAX_NESTING) -> None:
        self.max_size = max_size
        self.max_nesting = max_nesting
        self._state = _TOP
        self._depth = 0
        self._escape = False
        self._value = bytearray()      # the value being assembled (single quotes already rewritten)
        self._resync = _RESYNC         # where _RECOVER may stop skipping
        # json.loads enforces no size limit and nests only as deep as Python's
        # recursion limit (RecursionError sends such a line to the scanner).
        self._fast_max = max_size if max_nesting >= MAX_NESTING else -1

    @property
    def idle(self) -> bool:
        """True when no partial value is buffered."""
        return self._state == _TOP

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        if self._state != _TOP:
            self._scan(data, out)
            return out
        start = 0
        end = data.rfind(b"\n") + 1
        # Fast path: whole lines, each one complete JSON text.
        while start < end:
            nl = data.index(b"\n", start)
            line = data[start:nl]
            if len(line) > self._fast_max:
                break
            if line.strip():
                try:
                    value = _decode(line.decode("utf-8"))
                except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError, _Invalid
                    break
                out.append(value)
            start = nl + 1
        if start < len(data):
            self._scan(data[start:] if start else data, out)
        return out

    # The exact scanner: a small state machine over bytes, skipping plain runs with regexes.
    def _scan(self, data: bytes, out: list[Frame]) -> None:
        i, n = 0, len(data)
        value = self._value
        while i < n:
            state = self._state
            if state == _VALUE:
                m = _PLAIN_IN_VALUE.match(data, i)
                if m:
                    value += data[i:m.end()]
                    i = m.end()
                    if len(value) > self.max_size:
                        self._fail(out, "JSON token size limit exceeded", whole_line=True)
                    continue
                b = data[i]
                i += 1
                if b in (0x7B, 0x5B):  # { [
                    self._depth += 1
                    value.append(b)
                    if self._depth > self.max_nesting:
                        self._fail(out, "JSON nesting depth limit exceeded", whole_line=True)
                elif b in (0x7D, 0x5D):  # } ]
                    self._depth -= 1
                    value.append(b)
                    if self._depth == 0:
                        self._emit(out)
                elif b == 0x22:  # "
                    value.append(b)
                    self._state = _DQ
                elif b == 0x27:  # '
                    value.append(0x22)
                    self._state = _SQ
                elif b in _WS:
                    value.append(b)
                else:
                    self._fail(out, f"JSON parse error, stray '{_shown(b)}'")
            elif state in (_DQ, _SQ):
                m = (_PLAIN_IN_DQ if state == _DQ else _PLAIN_IN_SQ).match(data, i)
                if m and not self._escape:
                    value += data[i:m.end()]
                    i = m.end()
                    if len(value) > self.max_size:
                        self._fail(out, "JSON token size limit exceeded", whole_line=True)
                    continue
                b = data[i]
                i += 1
                if b < 0x20 or b >= 0xFE:
                    self._fail(out, f"JSON parse error, stray '{_shown(b)}' in string")
                elif self._escape:
                    self._escape = False
                    if b == 0x27:        # \' : QEMU's extension, plain ' in JSON
                        value.append(0x27)
                    else:
                        value += b"\\" + bytes((b,))
                elif b == 0x5C:          # backslash
                    self._escape = True
                elif b == 0x22 and state == _SQ:
                    value += b'\\"'
                elif b == 0x22 or b == 0x27:   # the closing quote
                    value.append(0x22)
                    self._state = _VALUE if self._depth else _TOP
                    if not self._depth:
                        self._emit(out)
                else:
                    value.append(b)
            elif state == _TOP:
                b = data[i]
                if b in _WS:
                    i += 1
                elif b in (0x7B, 0x5B):
                    i += 1
                    self._depth = 1
                    value.append(b)
                    self._state = _VALUE
                elif b == 0x22 or b == 0x27:
                    i += 1
                    value.append(0x22)
                    self._state = _DQ if b == 0x22 else _SQ
                elif b in _TOKEN_CHARS:
                    self._state = _BARE
                else:
                    i += 1
                    self._fail(out, "JSON parse error, " + (
                        "expecting value" if b in (0x7D, 0x5D) else f"stray '{_shown(b)}'"))
            elif state == _BARE:
                m = _TOKEN.match(data, i)
                if m:
                    value += data[i:m.end()]
                    i = m.end()
                    if len(value) > self.max_size:
                        self._fail(out, "JSON token size limit exceeded", whole_line=True)
                    continue
                self._emit(out)  # the token ends at the first other byte, which is scanned again
            else:  # _RECOVER: skip to a place where a new value can start
                m = self._resync.search(data, i)
                if m is None:
                    return
                i = m.start()
                self._state = _TOP
        # Ending in _BARE is fine: a token may continue in the next chunk.

    def _emit(self, out: list[Frame]) -> None:
        text = bytes(self._value)
        self._value.clear()
        self._state = _TOP
        self._depth = 0
        try:
            out.append(parse_text(text.decode("utf-8")))
        except UnicodeDecodeError:
            out.append(ParseError("JSON parse error, invalid UTF-8 sequence in string"))

    def _fail(self, out: list[Frame], desc: str, whole_line: bool = False) -> None:
        """Report ``desc``, drop the partial value and skip to a resynchronisation point.

        After a limit is hit the rest of the oversized value is still to come;
        ``whole_line`` skips it up to the next newline instead of restarting at
        the next bracket inside it.
        """
        out.append(ParseError(desc))
        self._resync = _RESYNC_LINE if whole_line else _RESYNC
        self._value.clear()
        self._depth = 0
        self._escape = False
        self._state = _RECOVER


# ------------------------------------------------------------- validation ---

def check_command(obj: object) -> Command | InputError:
    """QEMU's ``qmp_dispatch_check_obj`` for a monitor without out-of-band."""
    if not isinstance(obj, dict):
        return InputError(NOT_AN_OBJECT, False, None)
    has_id = "id" in obj
    rid = obj.get("id")
    execute: Any = None
    for key, val in obj.items():
        if key == "execute":
            if not isinstance(val, str):
                return InputError("QMP input member 'execute' must be a string", has_id, rid)
            execute = val
        elif key == "arguments":
            if not isinstance(val, dict):
                return InputError("QMP input member 'arguments' must be an object", has_id, rid)
        elif key != "id":
            return InputError(f"QMP input member '{key}' is unexpected", has_id, rid)
    if execute is None:
        return InputError("QMP input lacks member 'execute'", has_id, rid)
    return Command(execute, obj.get("arguments"), has_id, rid)


# ---------------------------------------------------------------- replies ---

_encode: Final = json.JSONEncoder().encode   # QEMU's spacing: ", " and ": "


def encode(obj: object) -> bytes:
    """One QMP message on the wire, formatted as QEMU formats it."""
    return _encode(obj).encode("utf-8") + b"\r\n"


_encode_utf8: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
#: Strings whose JSON form is themselves in quotes (no escaping needed).
_PLAIN_STRING: Final = re.compile(r"[ !#-\[\]-~]*")


def encode_command(execute: str, arguments: dict[str, Any] | None, upid: int) -> bytes:
    """A command for QEMU, with the endpoint's own integer id.

    Raises ValueError, worded as QEMU's parser would complain, for what QEMU
    could not parse (a lone UTF-16 surrogate from a ``\\ud800`` escape):
    QEMU's reply to that would carry no id and could not be routed.
    """
    if arguments is None and _PLAIN_STRING.fullmatch(execute):
        # The common case, without the encoder (a measurable share of a hop).
        return b'{"execute": "' + execute.encode("ascii") + b'", "id": ' + str(upid).encode("ascii") + b"}\r\n"
    msg: dict[str, object] = {"execute": execute, "id": upid}
    if arguments is not None:
        msg["arguments"] = arguments
    text = _encode_utf8(msg)
    try:
        return text.encode("utf-8") + b"\r\n"
    except UnicodeEncodeError as err:
        raise ValueError(f"JSON parse error, \\u{ord(text[err.start]):x} is not a valid Unicode character") \
            from None


def id_json(has_id: bool, rid: Any) -> bytes | None:
    """The ``id`` to echo, serialised once (None: the request had none)."""
    return _encode(rid).encode("utf-8") if has_id else None


def error_reply(error_class: str, desc: str, rid: bytes | None = None) -> bytes:
    """``{"id": ..., "error": {...}}``; the id (already serialised) only if given."""
    body = _encode({"class": error_class, "desc": desc}).encode("utf-8")
    if rid is None:
        return b'{"error": ' + body + b"}\r\n"
    return b'{"id": ' + rid + b', "error": ' + body + b"}\r\n"


def return_reply(value_json: bytes, rid: bytes | None = None) -> bytes:
    """``{"return": ..., "id": ...}`` from an already serialised return value."""
    if rid is None:
        return b'{"return": ' + value_json + b"}\r\n"
    return b'{"return": ' + value_json + b', "id": ' + rid + b"}\r\n"


def greeting(version: object, capabilities: list[str]) -> bytes:
    return encode({"QMP": {"version": version, "capabilities": capabilities}})


# ----------------------------------------------------- replies from QEMU ---

_SUFFIX: Final = b', "id": '
_PREFIX: Final = b'{"id": '


def split_reply_id(line: bytes) -> tuple[int, bytes, bytes] | None:
    """Find the integer ``id`` QEMU echoed, without parsing the whole reply.

    QEMU writes ``{"return": ..., "id": N}`` and ``{"id": N, "error": ...}``.
    Returns ``(N, head, tail)`` such that the reply with another id ``X`` is
    ``head + X + tail`` and without any id is :func:`without_id`; None when
    the line has neither shape (the caller then parses it).

    Sound because the bytes ``, "`` cannot occur inside a JSON string, so a
    line ending in ``, "id": N}`` ends with a top-level member ``id``.
    """
    if line.endswith(b"}"):
        i = line.rfind(_SUFFIX)
        if i > 0:
            num = line[i + 8:-1]
            if num.isdigit():
                return int(num), line[:i + 8], b"}"
    if line.startswith(_PREFIX):
        j = line.find(b", ", 7)
        if j > 7:
            num = line[7:j]
            if num.isdigit():
                return int(num), _PREFIX, line[j:]
    return None


def without_id(head: bytes, tail: bytes) -> bytes:
    """The reply of :func:`split_reply_id` with its id member removed."""
    if tail == b"}":
        return head[:-8] + b"}"
    return b"{" + tail[2:]
