"""Describing a request with words, as the command line's `explain` takes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from .._core.errors import InvalidRequestError
from .._core.model import (
    Action,
    OrderType,
    Origin,
    Request,
    TimeInForce,
)

DEFAULT_INSTRUMENT: Final = "ANY"
"""The instrument a described order gets when none is named (decisions do not depend on it)."""

_WORDS: Final[Mapping[str, tuple[str, object]]] = {
    "new": ("action", Action.NEW_ORDER),
    **{a.name.lower(): ("action", a) for a in Action},
    **{t.name.lower(): ("order_type", t) for t in OrderType},
    **{t.name.lower(): ("time_in_force", t) for t in TimeInForce},
    **{o.name.lower(): ("origin", o) for o in Origin},
    "post_only": ("post_only", True),
    "reduce_only": ("reduce_only", True),
}
_FIELDS: Final[Mapping[str, tuple[str, Mapping[str, object]]]] = {
    "action": ("action", {a.name.lower(): a for a in Action} | {"new": Action.NEW_ORDER}),
    "type": ("order_type", {t.name.lower(): t for t in OrderType}),
    "order_type": ("order_type", {t.name.lower(): t for t in OrderType}),
    "tif": ("time_in_force", {t.name.lower(): t for t in TimeInForce}),
    "time_in_force": ("time_in_force", {t.name.lower(): t for t in TimeInForce}),
    "origin": ("origin", {o.name.lower(): o for o in Origin}),
    "post_only": ("post_only", {"true": True, "false": False, "yes": True, "no": False}),
    "reduce_only": ("reduce_only", {"true": True, "false": False, "yes": True, "no": False}),
}

REQUEST_WORDS: Final = (
    "words: " + ", ".join(sorted(w.replace("_", "-") for w in _WORDS))
    + "; fields: instrument=NAME, " + ", ".join(f"{k}=..." for k in sorted(_FIELDS))
)
"""What `parse_request` understands, for help and error messages."""


def parse_request(tokens: Sequence[str]) -> Request:
    """Build a request from words such as ``new limit gtc post-only instrument=BTC origin=client``.

    Words are case-insensitive and ``-`` equals ``_``. Without an action word, an order type
    means a new order. An order without ``instrument=`` gets `DEFAULT_INSTRUMENT`.

    Raises:
        InvalidRequestError: an unknown word, a field given twice, or an inconsistent request.
    """
    fields: dict[str, object] = {}

    def put(field: str, value: object, token: str) -> None:
        if field in fields and fields[field] != value:
            already = getattr(fields[field], "name", fields[field])  # an enum member by its name
            raise InvalidRequestError(field, token, f"one {field} only (already {already})")
        fields[field] = value

    for token in tokens:
        name, sep, raw = token.partition("=")
        if sep:
            key = name.strip().lower().replace("-", "_")
            if key == "instrument":
                put("instrument", raw, token)
                continue
            if key not in _FIELDS:
                raise InvalidRequestError(key, token, REQUEST_WORDS)
            field, choices = _FIELDS[key]
            value = choices.get(raw.strip().lower().replace("-", "_"))
            if value is None:
                raise InvalidRequestError(field, raw, "one of " + ", ".join(choices))
            put(field, value, token)
            continue
        word = token.strip().lower().replace("-", "_")
        if word not in _WORDS:
            raise InvalidRequestError("request", token, REQUEST_WORDS)
        put(*_WORDS[word], token)
    if "action" not in fields:
        if "order_type" not in fields:
            raise InvalidRequestError("action", None, "an action word, e.g. new, cancel, add-margin")
        fields["action"] = Action.NEW_ORDER
    if fields["action"] in (Action.NEW_ORDER, Action.AMEND, Action.CANCEL):
        fields.setdefault("instrument", DEFAULT_INSTRUMENT)
        if fields["action"] is not Action.CANCEL:
            fields.setdefault("order_type", OrderType.LIMIT)
    return Request(**fields)  # type: ignore[arg-type]
