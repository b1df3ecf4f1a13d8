"""One error type for the whole request path, and its body in each client dialect.

Upstream failures, pool exhaustion, bad client input and access failures all become a
``ProxyError``; routes render it as an HTTP response before the stream is committed, and translators
render it as their dialect's error event after. Messages never carry a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """What an upstream attempt came to; the pool maps each to a credential state."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"  # 429 other than a spent quota
    QUOTA_EXHAUSTED = "quota_exhausted"  # 429 usage_limit_reached
    NO_QUOTA = "no_quota"  # usage_not_included / insufficient_quota
    UNAUTHORIZED = "unauthorized"  # 401
    FORBIDDEN = "forbidden"  # 402 / 403
    MODEL_UNSUPPORTED = "model_unsupported"  # model not available for this account
    BAD_REQUEST = "bad_request"  # 400: the client's fault, never retried
    CONTEXT_TOO_LARGE = "context_too_large"
    SERVER_ERROR = "server_error"  # 408 / 5xx / overloaded
    DISCONNECTED = "disconnected"  # transport error or stream cut before completion
    CLOUDFLARE = "cloudflare"
    CLIENT_ERROR = "client_error"  # produced by the proxy itself (bad JSON, unknown model, ...)


# Outcomes where another account may succeed where this one failed.
RETRYABLE = frozenset(
    {
        Outcome.RATE_LIMITED,
        Outcome.QUOTA_EXHAUSTED,
        Outcome.NO_QUOTA,
        Outcome.UNAUTHORIZED,
        Outcome.FORBIDDEN,
        Outcome.MODEL_UNSUPPORTED,
        Outcome.SERVER_ERROR,
        Outcome.DISCONNECTED,
        Outcome.CLOUDFLARE,
    }
)


@dataclass
class ProxyError(Exception):
    """A failure the client is told about.

    ``code`` is the machine-readable reason (OpenAI style, e.g. ``rate_limit_exceeded``);
    ``retry_after`` is seconds until a retry can succeed, when known; ``extra`` carries
    dialect-specific fields (e.g. Codex's ``resets_at`` for the pool-exhausted 429).
    """

    status: int
    message: str
    code: str = ""
    type: str = ""
    outcome: Outcome = Outcome.CLIENT_ERROR
    retry_after: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        return self.outcome in RETRYABLE

    def headers(self) -> dict[str, str]:
        if self.retry_after is not None and self.status in (429, 503):
            return {"Retry-After": str(max(1, int(self.retry_after + 0.999)))}
        return {}


def bad_request(message: str, code: str = "") -> ProxyError:
    return ProxyError(400, message, code=code, type="invalid_request_error")


def model_not_found(model: str, hint: str = "") -> ProxyError:
    message = f"The model `{model}` does not exist or is not served by this proxy."
    if hint:
        message += " " + hint
    return ProxyError(404, message, code="model_not_found", type="invalid_request_error")


_OPENAI_BY_STATUS: dict[int, tuple[str, str]] = {
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "insufficient_quota"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("server_error", "request_timeout"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def openai_type_and_code(err: ProxyError) -> tuple[str, str]:
    """OpenAI ``error.type`` / ``error.code`` for an error, from its own fields or its status."""
    default_type, default_code = _OPENAI_BY_STATUS.get(err.status, ("", ""))
    if not default_type:
        if err.status >= 500:
            default_type, default_code = "server_error", "internal_server_error"
        else:
            default_type = "invalid_request_error"
    return err.type or default_type, err.code or default_code


def openai_error_body(err: ProxyError) -> dict[str, Any]:
    """``{"error":{message,type,code,param}}`` — the shape every OpenAI SDK parses."""
    error_type, code = openai_type_and_code(err)
    body: dict[str, Any] = {"message": err.message, "type": error_type, "param": None, "code": code or None}
    body.update(err.extra)
    return {"error": body}


_ANTHROPIC_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_ANTHROPIC_TYPES = frozenset(_ANTHROPIC_BY_STATUS.values()) | {"api_error"}
_UNAMBIGUOUS = frozenset({401, 402, 403, 404, 413, 429, 529})


def anthropic_error_type(err: ProxyError) -> str:
    """Always a real Anthropic error type (recommended divergence of proxy.md §5.3).

    Statuses with exactly one Anthropic meaning decide first (a 404 is ``not_found_error`` even when
    the error was built OpenAI-style as ``invalid_request_error``).
    """
    if err.status in _UNAMBIGUOUS:
        return _ANTHROPIC_BY_STATUS[err.status]
    if err.type in _ANTHROPIC_TYPES:
        return err.type
    if err.code in ("server_is_overloaded", "overloaded") or "overloaded" in err.message.lower():
        return "overloaded_error"
    if err.status in _ANTHROPIC_BY_STATUS:
        return _ANTHROPIC_BY_STATUS[err.status]
    if err.status >= 500:
        return "api_error"
    return "invalid_request_error"


def anthropic_error_body(err: ProxyError) -> dict[str, Any]:
    message = err.message
    if err.code and err.code not in message:
        message = f"{message} ({err.code})"
    return {"type": "error", "error": {"type": anthropic_error_type(err), "message": message}}


_GOOGLE_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_error_body(err: ProxyError) -> dict[str, Any]:
    status = _GOOGLE_STATUS.get(err.status, "INTERNAL" if err.status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": err.status, "message": err.message, "status": status}}
