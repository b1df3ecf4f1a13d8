"""Tool-name and call-id shortening to the backend's 64-character limit.

Shared by the Chat, Claude and Gemini translators; the reverse map restores the client's names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

LIMIT = 64


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def shorten_name(name: str) -> str:
    """Rules 1–3: short names stay; ``mcp__`` names keep their last segment; others are cut."""
    if len(name.encode("utf-8")) <= LIMIT:
        return name
    if name.startswith("mcp__"):
        last = name.rsplit("__", 1)[-1]
        return _truncate_utf8("mcp__" + last, LIMIT)
    return _truncate_utf8(name, LIMIT)


def build_name_map(names: Iterable[str]) -> dict[str, str]:
    """Original → short name over the declared tools, unique within the request (rule 4)."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if name in mapping:
            continue
        candidate = shorten_name(name)
        if candidate in taken:
            counter = 1
            while True:
                suffix = f"_{counter}"
                attempt = _truncate_utf8(candidate, LIMIT - len(suffix)) + suffix
                if attempt not in taken:
                    candidate = attempt
                    break
                counter += 1
        taken.add(candidate)
        mapping[name] = candidate
    return mapping


def short_name(name: str, mapping: dict[str, str]) -> str:
    """Rule 5: names in history use the declared map, else rules 1–3 alone."""
    return mapping.get(name) or shorten_name(name)


def reverse_map(mapping: dict[str, str]) -> dict[str, str]:
    """Short → original, for restoring names in responses (rule 6)."""
    return {short: original for original, short in mapping.items()}


def shorten_call_id(call_id: str) -> str:
    """Claude call ids over 64 chars: first 47 chars, ``_``, 16 hex chars of SHA-256."""
    if len(call_id) <= LIMIT:
        return call_id
    digest = hashlib.sha256(call_id.encode("utf-8")).hexdigest()[:16]
    return call_id[:47] + "_" + digest
