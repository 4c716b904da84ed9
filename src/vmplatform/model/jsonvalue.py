"""The one spelling of "a JSON value" for the typed API.

Every model and result type has ``to_json()`` returning a JSON-ready object of
these types (``json.dumps`` writes it as is); ``Any`` is left to the places
where JSON from outside is read before it is checked.
"""

from __future__ import annotations

JsonScalar = None | bool | int | float | str
JsonValue = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]
