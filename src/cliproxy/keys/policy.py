"""A client key's rules applied to one request, and the errors that tell its holder why not.

All of these are the request's own fault (``Outcome.KEY_LIMIT``): no account is asked, none rests,
and the message names what the holder can act on — the allowed models, the limit and its reset.
"""

from __future__ import annotations

import math
import time
from collections.abc import MutableMapping
from typing import Any

from cliproxy.errors import Outcome, ProxyError
from cliproxy.keys.counters import LimitReached
from cliproxy.keys.model import KeySpec
from cliproxy.responses.effort import RANK

DEFAULT_EFFORT = "medium"  # what the backend uses when a request names no effort


def utc(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))


def check_key(key: KeySpec, now: float) -> None:
    """A disabled or expired key is refused like a wrong one, but says which it is."""
    if key.disabled:
        raise ProxyError(401, f"The API key {key.name!r} is disabled.", code="key_disabled",
                         type="authentication_error", outcome=Outcome.KEY_LIMIT)
    if key.expires_at is not None and now >= key.expires_at:
        raise ProxyError(401, f"The API key {key.name!r} expired at {utc(key.expires_at)}.", code="key_expired",
                         type="authentication_error", outcome=Outcome.KEY_LIMIT)


def check_model(key: KeySpec, names: tuple[str, ...]) -> None:
    """403 naming the key's models when none of the model's names is allowed."""
    if not key.allows(names):
        raise ProxyError(403, f"The API key {key.name!r} may not use the model `{names[0]}`; it may use: "
                         f"{', '.join(key.models)}.", code="model_not_allowed", type="permission_error",
                         outcome=Outcome.KEY_LIMIT)


def cap_effort(key: KeySpec, body: MutableMapping[str, Any]) -> None:
    """A reasoning effort above the key's cap is lowered to the cap, and the request is still served.
    No effort at all means the backend's default, ``medium``, which a lower cap lowers too."""
    if not key.max_effort:
        return
    reasoning = body.get("reasoning")
    reasoning = dict(reasoning) if isinstance(reasoning, dict) else {}
    effort = reasoning.get("effort") or DEFAULT_EFFORT
    if isinstance(effort, str) and effort in RANK and RANK[effort] > RANK[key.max_effort]:
        body["reasoning"] = {**reasoning, "effort": key.max_effort}


def limit_error(refusal: LimitReached, now: float) -> ProxyError:
    """429 with ``Retry-After``, naming the limit and when it resets."""
    wait = max(1, math.ceil(refusal.reset_at - now))
    return ProxyError(429, f"The API key {refusal.key!r} reached its limit of {refusal.limit.describe()}; "
                      f"it resets at {utc(refusal.reset_at)} (in {wait} s).", code="key_limit_reached",
                      type="rate_limit_error", outcome=Outcome.KEY_LIMIT, retry_after=wait,
                      extra={"resets_at": int(refusal.reset_at)})


__all__ = ["cap_effort", "check_key", "check_model", "limit_error", "utc"]
