"""Client keys on the request path: a key's model rules and effort cap, its reservation, its settling.

The front door found the key (``server/gate.py``). When the route has resolved the model, the key's
allowed models and effort cap apply (:func:`apply_rules`); before the runner starts, one request and
an estimate of its tokens are reserved (:func:`reserve`, a 429 in the client's dialect when a limit
is spent); when the request's trace finishes — the one place every outcome passes — the reservation
is settled from the final usage or released (:func:`close`).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import HTTPConnection

from cliproxy.config.models import ResolvedModel
from cliproxy.dialects.base import TranslatedRequest
from cliproxy.dialects.tokens import estimate_codex_body_tokens
from cliproxy.keys.counters import KeyCounters, LimitReached, Reservation
from cliproxy.keys.model import KeySpec
from cliproxy.keys.policy import cap_effort, check_model, limit_error


def key_of(request: HTTPConnection) -> KeySpec | None:
    """The client key the front door matched, None in open mode."""
    spec: KeySpec | None = request.scope.get("state", {}).get("key_spec")
    return spec


def apply_rules(request: HTTPConnection, translated: TranslatedRequest, model: ResolvedModel) -> None:
    """403 for a model the key may not use; an effort above its cap is lowered to the cap."""
    key = key_of(request)
    if key is None or not key.named:
        return
    names = (translated.model, model.id, f"{model.prefix}/{model.id}" if model.prefix else model.id)
    check_model(key, names)
    cap_effort(key, translated.body)


async def reserve(counters: KeyCounters, key: KeySpec | None, body: dict[str, Any],
                  estimate: int | None = None) -> Reservation | None:
    """One request and its estimated input tokens counted against the key's limits, or a 429.
    ``estimate``: the route's own, when it made one already (a Claude stream's ``message_start``)."""
    if key is None or not key.limits:
        return None
    # An estimate (four characters a token): settling replaces it with the real usage, and a
    # tokenizer here would cost milliseconds per request and 70 MB of memory.
    if not key.counts_tokens:
        estimate = 0
    elif estimate is None:
        estimate = estimate_codex_body_tokens(body)
    now = time.time()
    try:
        return await counters.reserve(key, estimate, now)
    except LimitReached as refusal:
        raise limit_error(refusal, now) from None


def close(counters: KeyCounters, reservation: Reservation, tokens: int, produced: bool) -> None:
    """Settle from the final usage (``tokens``); a request cut after it produced output without a
    usage report costs its estimate, so leaving early is no way around a limit; one that produced
    nothing is released."""
    if tokens > 0:
        counters.settle(reservation, tokens)
    elif produced:
        counters.settle(reservation, reservation.estimate)
    else:
        counters.release(reservation)


__all__ = ["apply_rules", "close", "key_of", "reserve"]
