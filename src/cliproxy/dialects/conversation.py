"""A prompt-cache key for a conversation the client does not name.

The backend keeps a conversation's prompt prefix warm per ``prompt_cache_key``; a turn sent without
one is billed as new input every time, which spends the user's quota. Claude clients without a Claude
Code session and Gemini clients name no conversation, but every turn of one conversation re-sends
the same beginning: the system prompt and the first user message. So that beginning, hashed, names
the conversation: the same key on every turn, a different key for a different conversation, and the
same key after a restart (nothing is remembered).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from cliproxy.dialects.cache_id import uuid5_text

_MODEL_SUFFIX = re.compile(r"\([^()]*\)$")  # an effort suffix, "gpt-5.4(high)": the same conversation


def _opening(items: list[Any]) -> list[Any] | None:
    """The input items up to and including the first user message, or None without one."""
    for end, item in enumerate(items):
        if isinstance(item, dict) and item.get("role") == "user":
            return items[: end + 1]
    return None


def conversation_key(dialect: str, model: str, body: dict[str, Any]) -> str | None:
    """A UUID derived from a Responses body's instructions and opening items; None when the body has
    no user message to name the conversation by."""
    items = body.get("input")
    opening = _opening(items) if isinstance(items, list) else None
    if opening is None:
        return None
    digest = hashlib.blake2b(orjson.dumps([body.get("instructions") or "", opening], option=orjson.OPT_SORT_KEYS),
                             digest_size=16).hexdigest()
    base = _MODEL_SUFFIX.sub("", model.strip())
    return uuid5_text(f"cliproxy:prompt-cache:{dialect}:{base}:{digest}")


__all__ = ["conversation_key"]
