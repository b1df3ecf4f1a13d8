"""Checked reads of a client's Chat-shaped body, shared by the Chat request translator and the
Responses → Chat conversion: a wrong type in the client body is the client's fault (400), never a
crash.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from cliproxy.dialects.base import JSON
from cliproxy.errors import bad_request

__all__ = ["copy_present", "json_text", "need_dict", "need_str", "optional_list"]


def need_dict(value: Any, where: str) -> JSON:
    if not isinstance(value, dict):
        raise bad_request(f"`{where}` must be an object.")
    return value


def need_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"`{where}` must be a string.")
    return value


def optional_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"`{where}` must be an array.")
    return value


def json_text(value: Any, where: str) -> str:
    """Client JSON re-encoded as a string (tool arguments, odd tool outputs)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # e.g. an integer beyond 64 bits from a non-orjson parser
        raise bad_request(f"`{where}` cannot be encoded as JSON.") from exc


def copy_present(out: JSON, source: JSON, keys: Iterable[str]) -> JSON:
    for key in keys:
        if key in source and source[key] is not None:
            out[key] = source[key]
    return out
