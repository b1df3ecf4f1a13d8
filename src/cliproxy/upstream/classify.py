"""Classify Codex backend failures into one ProxyError with an Outcome.

The tables are in docs/errors.md, "From the Codex backend" and "Errors inside a 200 stream".

Pure functions of (status, body, headers, now), so the whole table is testable with plain data.
The Outcome is what the pool acts on; status/type/code are what the client is told.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from cliproxy.errors import Outcome, ProxyError

MAX_RAW_MESSAGE = 500  # a non-JSON error page is quoted, not relayed whole
_CAPACITY = ("selected model is at capacity", "model is at capacity. please try a different model")
_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "too many tokens")
_STREAM_CONTEXT_HINTS = ("context window", "context length", "too many tokens")
_MODEL_UNSUPPORTED = (
    "model_not_supported",
    "requested model is not supported",
    "requested model is unsupported",
    "requested model is unavailable",
    "model is not supported",
    "model not supported",
    "unsupported model",
    "model unavailable",
    "not available for your plan",
    "not available for your account",
)
# Words of a 404 that is about something the request named, never about the account.
# (An unknown item is turned into a 400 ``item_not_found`` before the outcome is decided.)
_REQUEST_404 = ("previous_response", "previous response", "response with id")
# Cloudflare's own 520-526 (origin down, unreachable, timed out, TLS failed): the backend's servers
# were not reached at all, so the account is never at fault, whatever HTML page comes with them.
_CLOUDFLARE_ORIGIN_STATUSES = frozenset(range(520, 527))
_QUOTA_CODES = {"usage_limit_reached"}
_NO_QUOTA_CODES = {"usage_not_included", "insufficient_quota"}
_RATE_CODES = {"rate_limit_exceeded"}
_TRANSIENT_CODES = {"server_is_overloaded", "slow_down", "server_error", "internal_server_error",
                    "overloaded_error", "api_error"}


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _error_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The error object: ``error`` when it is an object, else the top-level fields."""
    error = doc.get("error")
    if isinstance(error, dict) and error:
        fields = dict(error)
    else:
        fields = {key: doc[key] for key in ("message", "code", "type", "param") if key in doc}
        if isinstance(error, str) and "message" not in fields:
            fields["message"] = error
    if not fields.get("type") and doc.get("error_type"):
        fields["type"] = doc["error_type"]
    return fields


def is_cloudflare(text: str) -> bool:
    lowered = text.lower()
    return (
        "challenge-platform" in lowered
        or "cf-mitigated" in lowered
        or "cloudflare challenge" in lowered
        or ("cloudflare" in lowered and "<html" in lowered)
    )


def _is_context_error(status: int, code: str, error_type: str, message: str) -> bool:
    if status == 413 or code in ("context_length_exceeded", "context_too_large"):
        return True
    return error_type in ("", "invalid_request_error") and any(h in message for h in _CONTEXT_HINTS)


def retry_after_seconds(status: int, error: Mapping[str, Any], headers: Mapping[str, str],
                        now: float) -> float | None:
    """``resets_at`` in the future wins, then ``resets_in_seconds``, then a ``Retry-After`` header."""
    if status == 429 and error.get("type") == "usage_limit_reached":
        resets_at = error.get("resets_at")
        if isinstance(resets_at, int | float) and resets_at > now:
            return float(resets_at - now)
        resets_in = error.get("resets_in_seconds")
        if isinstance(resets_in, int | float) and resets_in > 0:
            return float(resets_in)
    header = headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            return None
    return None


def _names_a_model(message: str) -> bool:
    """A 404 about the model (this account cannot use it), not about an item or a response id the
    request named: "Item with id … not found", "previous response … not found" are the request's."""
    return "model" in message and not any(word in message for word in _REQUEST_404)


def _outcome_for(status: int, code: str, error_type: str, message: str) -> Outcome:
    if status == 429:
        if code in _QUOTA_CODES or error_type in _QUOTA_CODES:
            return Outcome.QUOTA_EXHAUSTED
        if code in _NO_QUOTA_CODES or error_type in _NO_QUOTA_CODES:
            return Outcome.NO_QUOTA
        return Outcome.RATE_LIMITED
    if code in _NO_QUOTA_CODES or error_type in _NO_QUOTA_CODES:
        return Outcome.NO_QUOTA
    if status == 401:
        return Outcome.UNAUTHORIZED
    if status in (402, 403):
        return Outcome.FORBIDDEN
    if status in (400, 404, 422) and any(h in message for h in _MODEL_UNSUPPORTED):
        return Outcome.MODEL_UNSUPPORTED
    if status == 404 and _names_a_model(message):
        return Outcome.MODEL_UNSUPPORTED
    if status == 408 or status >= 500:
        return Outcome.SERVER_ERROR
    return Outcome.BAD_REQUEST


def classify_http_error(status: int, body: bytes, headers: Mapping[str, str],
                        now: float | None = None) -> ProxyError:
    """A non-2xx upstream answer → ProxyError, with the Outcome that says whose fault it is
    (``errors.BLAME``; the rows are listed in docs/errors.md)."""
    now = time.time() if now is None else now
    text = body.decode("utf-8", errors="replace")
    doc = _parse_json(body)
    error = _error_fields(doc)
    message = str(error.get("message") or doc.get("detail") or text[:MAX_RAW_MESSAGE] or f"HTTP {status}")
    lowered_message, lowered_text = message.lower(), text.lower()
    code, error_type = str(error.get("code") or ""), str(error.get("type") or "")
    if any(marker in lowered_message or marker in lowered_text for marker in _CAPACITY):
        status = 429
    if status in _CLOUDFLARE_ORIGIN_STATUSES:
        return ProxyError(502, f"the upstream's edge could not reach its servers (HTTP {status})",
                          code="upstream_unavailable", type="server_error", outcome=Outcome.SERVER_ERROR)
    if is_cloudflare(text):
        return ProxyError(status or 502, "the upstream answered with a Cloudflare challenge",
                          code="cloudflare_challenge", outcome=Outcome.CLOUDFLARE)
    retry_after = retry_after_seconds(status, error, headers, now)
    extra = _quota_extra(error, retry_after) if error_type == "usage_limit_reached" else {}
    code, error_type = _classified_code(status, code, error_type, lowered_message, lowered_text)
    if code == "item_not_found":
        status = 400  # the request named an item the backend never kept: the request's fault, as a 400
    return ProxyError(status, message, code=code, type=error_type,
                      outcome=_outcome_for(status, code, error_type, lowered_message),
                      retry_after=retry_after, extra=extra)


def _quota_extra(error: Mapping[str, Any], retry_after: float | None) -> dict[str, Any]:
    extra = {key: error[key] for key in ("plan_type", "resets_at", "resets_in_seconds") if key in error}
    if retry_after is not None and "resets_in_seconds" not in extra:
        extra["resets_in_seconds"] = int(retry_after)
    return extra


def _classified_code(status: int, code: str, error_type: str, message: str, text: str) -> tuple[str, str]:
    """The first matching special case (context, signature, previous response, auth), else the
    upstream's own code and type."""
    if _is_context_error(status, code, error_type, message):
        return "context_too_large", "invalid_request_error"
    if "invalid signature in thinking block" in text or "invalid_encrypted_content" in text:
        return "thinking_signature_invalid", "invalid_request_error"
    if status == 404 and ("item with id" in text or "not persisted" in text):
        return "item_not_found", "invalid_request_error"
    if code == "previous_response_not_found" or "previous_response_not_found" in text or (
        "previous_response_id" in text and "not found" in text
    ):
        return "previous_response_not_found", "invalid_request_error"
    if (status == 401 or error_type == "authentication_error" or code == "invalid_api_key"
            or "invalid or expired token" in text or "refresh_token_reused" in text):
        return "auth_unavailable", "authentication_error"
    return code or (error_type if error_type == "usage_limit_reached" else ""), error_type


def classify_stream_error(event: Mapping[str, Any], now: float | None = None) -> ProxyError:
    """An ``error`` or ``response.failed`` event inside a 200 stream."""
    response = event.get("response")
    source: Mapping[str, Any] = event
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        source = response
    error = _error_fields(source)
    code, error_type = str(error.get("code") or ""), str(error.get("type") or "")
    message = str(error.get("message") or error_type or code or "the upstream reported an error")
    lowered = message.lower()
    if code in ("context_length_exceeded", "context_too_large") or any(
        h in lowered for h in _STREAM_CONTEXT_HINTS
    ):
        return ProxyError(400, message, code="context_too_large", type="invalid_request_error",
                          outcome=Outcome.CONTEXT_TOO_LARGE)
    if "invalid signature in thinking block" in lowered or "invalid_encrypted_content" in (code + lowered):
        return ProxyError(400, message, code="thinking_signature_invalid", type="invalid_request_error",
                          outcome=Outcome.BAD_REQUEST)
    return _stream_error_by_code(message, code, error_type, error, now)


def _stream_error_by_code(message: str, code: str, error_type: str, error: Mapping[str, Any],
                          now: float | None) -> ProxyError:
    key = code or error_type
    if key in _QUOTA_CODES:
        retry = retry_after_seconds(429, {**error, "type": "usage_limit_reached"}, {},
                                    time.time() if now is None else now)
        return ProxyError(429, message, code=key, type="usage_limit_reached",
                          outcome=Outcome.QUOTA_EXHAUSTED, retry_after=retry,
                          extra=_quota_extra(error, retry))
    if key in _NO_QUOTA_CODES:
        return ProxyError(429, message, code=key, outcome=Outcome.NO_QUOTA)
    if key in _RATE_CODES:
        return ProxyError(429, message, code=key, outcome=Outcome.RATE_LIMITED)
    if key in _TRANSIENT_CODES:
        return ProxyError(503 if key != "internal_server_error" else 502, message, code=key,
                          type=error_type, outcome=Outcome.SERVER_ERROR)
    if error_type == "invalid_request_error" or key in ("cyber_policy", "invalid_prompt"):
        return ProxyError(400, message, code=key, type="invalid_request_error", outcome=Outcome.BAD_REQUEST)
    return ProxyError(502, message, code=key or "upstream_error", outcome=Outcome.SERVER_ERROR)


def disconnected(reason: str) -> ProxyError:
    """The upstream stream ended before ``response.completed``: a 502, not CPA's 408, because the
    SDKs retry a 408 on their own and the pool has already failed over."""
    return ProxyError(502, f"stream disconnected before completion: {reason}",
                      code="stream_disconnected", type="server_error", outcome=Outcome.DISCONNECTED)
