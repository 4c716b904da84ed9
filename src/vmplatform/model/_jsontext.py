"""JSON text from outside (reports, manifests, catalogs), parsed without surprises.

``json.loads`` raises ``RecursionError`` on pathologically nested input
(``[[[[...`` thousands deep); a reader of untrusted files must turn that into
the same syntax error every other malformed file gets.
"""

from __future__ import annotations

import json


def loads(text: str | bytes) -> object:
    """Parse JSON text; any malformation, nesting too deep included, is a JSONDecodeError."""
    try:
        return json.loads(text)
    except RecursionError as err:
        doc = text if isinstance(text, str) else text.decode("utf-8", "replace")
        raise json.JSONDecodeError("nested too deeply to be read (over a thousand levels)", doc, 0) from err
