"""What Amp's inference requests lose before anything serves them.

Amp replays the assistant turns it was given. Two kinds of block in them are refused by Anthropic
and mean nothing to the pool: a ``thinking`` block without a real signature (a model that is not
Claude produced it), and a ``signature`` on a ``tool_use`` block (the proxy adds an empty one to its
answers because Amp's interface expects the key; Anthropic answers 400 "Extra inputs are not
permitted" when it comes back). Both go, on every provider route, before the decision, so the
pool and ampcode.com see the same body. Nothing else is touched.

The 1M-context beta is dropped from ``Anthropic-Beta`` on the requests served here only: Amp's
own service offers it, a ChatGPT account has nothing to do with it.
"""

from __future__ import annotations

from typing import Any

LONG_CONTEXT_BETA = "context-1m-2025-08-07"


def _kept_block(block: Any) -> Any | None:
    """The block as it may stay in an assistant turn; None when it goes."""
    if not isinstance(block, dict):
        return block
    kind = block.get("type")
    if kind == "thinking":
        signature = block.get("signature")
        return block if isinstance(signature, str) and signature.strip() else None
    if kind == "tool_use" and "signature" in block:
        return {key: value for key, value in block.items() if key != "signature"}
    return block


def sanitize_messages(body: dict[str, Any]) -> bool:
    """Clean the assistant turns of ``body["messages"]`` in place; True when anything changed."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return False
    changed = False
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        content = message.get("content")
        if not isinstance(content, list):
            continue
        kept = [block for block in map(_kept_block, content) if block is not None]
        if len(kept) != len(content) or any(a is not b for a, b in zip(kept, content, strict=True)):
            message["content"] = kept
            changed = True
    return changed


def filter_beta(value: str) -> str:
    """``Anthropic-Beta`` without the 1M-context feature; ``""`` when nothing is left."""
    items = [item.strip() for item in value.split(",")]
    return ",".join(item for item in items if item and item != LONG_CONTEXT_BETA)


__all__ = ["LONG_CONTEXT_BETA", "filter_beta", "sanitize_messages"]
