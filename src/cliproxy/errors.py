"""One error type for the whole request path, its body in each client dialect, and the map of every
exception the program raises.

The request path has one type, :class:`ProxyError`, whose :class:`Outcome` says what an attempt came
to and, through :data:`BLAME`, whose fault that was (the request's, the account's, the upstream's
transient, or ours); a class tree would add nothing the dialect renderers could use. The rest of the program raises a
few small exceptions, each caught by exactly one layer and turned into words for the person who acts
on it. Messages never carry a secret or an e-mail.

Exception map
-------------

::

    ProxyError (Exception)            a failure the API client is told about; ``outcome`` is an Outcome
    |                                 raised: dialects/* (400: a body we cannot translate),
    |                                   config/models (404: unknown model), pool/core (no accounts),
    |                                   pool/shortage (429/503: every account resting), upstream/classify
    |                                   and upstream/codex (the backend's answer or a cut connection),
    |                                   responses/reader (a malformed event), server/access (401),
    |                                   keys/policy (a client key's limit, models or expiry: 429/403/401),
    |                                   server/body (400/415), server/gate (403), server/routes,
    |                                   server/backend_route (502), server/status_route (401)
    |                                 rendered: before the response is committed, by the one handler of
    |                                   server/app (server/errors.render_proxy_error: a real HTTP status
    |                                   in the dialect of the path, Retry-After kept); in front of the
    |                                   app by server/gate, which renders with the same function; after
    |                                   the commit, by the dialect's StreamTranslator.fail as one error
    |                                   event; the runner fails over on a retryable one first;
    |                                   any other exception is ours: server/errors.render_our_failure
    |                                   (a 500 naming a request id)
    +-- RefreshFailed                 auth/refresh: a token refresh that gave no usable token (401 needs
                                      a new login; 503 the issuer cannot renew it now: the account rests
                                      60 s; 500 an account file we cannot use: ours); the runner fails
                                      over, the CLI's ``accounts refresh`` prints it
    Outcome (StrEnum, not raised)     what an upstream attempt came to; BLAME says whose fault, and
                                      pool/cooldown turns the account's faults into rests

    AuthError (Exception)             auth/*: a login, device-flow, paste or refresh step failed
    +-- AuthenticationError           auth/oauth, auth/callback, auth/login: a login step (``kind``)
    +-- OAuthError                    auth/callback: the issuer answered ``error=...``
    +-- CallbackInputError            auth/callback: a pasted callback URL that cannot be used
    +-- AccountInfoError              auth/record: tokens without the account's identity
    +-- DeviceFlowError               auth/device: the device-code flow failed
    +-- RefreshError                  auth/oauth: the refresh call failed; auth/refresh turns it into
                                      RefreshFailed
                                      rendered: cli/accounts (a message and an exit code), and
                                      server/management/login (the login session's error string)

    ConfigError (Exception)           config/schema, config/edit, config/reload: a config that cannot be
                                      used, naming the key; rendered by cli/options and cli/usage (exit
                                      2), by server/management (a 400/409 JSON error), and logged by
                                      config/reload, which keeps the old snapshot
    StoreError (Exception)            auth/store: an account file cannot be read or written; rendered by
                                      cli/accounts and server/management/files, logged by auth/refresh
    AccountNotFound (Exception)       auth/accounts: no account, or several, answer to a name; rendered
                                      by cli/accounts with the list of what exists
    ImportRefused (Exception)         auth/record, auth/login: a Codex auth.json without a usable ChatGPT
                                      login; rendered by cli/accounts
    Exhausted (Exception)             pool/core ``Pool.pick``: no account can serve now; the runner turns
                                      it into the ProxyError the client reads (Exhausted.error)
    Denied (Exception)                server/management/guard: a refused management call (status and
                                      message); rendered by server/management/app before routing
    BadBody (Exception)               server/management/*: a management body or query that cannot be
                                      used; rendered by server/management/common.endpoint as
                                      ``{"error": ...}``
    NotProcessed (httpx.ReadError)    upstream/transport/http2: the backend provably did not process the
                                      request; upstream/transport/direct sends it once more, else
                                      upstream/codex classifies it as a cut connection (a ProxyError)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import FrozenInstanceError, dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Self


class Outcome(StrEnum):
    """What an upstream attempt came to. :data:`BLAME` says whose fault each one is."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"  # 429 other than a spent quota
    QUOTA_EXHAUSTED = "quota_exhausted"  # 429 usage_limit_reached
    NO_QUOTA = "no_quota"  # usage_not_included / insufficient_quota
    UNAUTHORIZED = "unauthorized"  # 401, and no refresh could mend it
    FORBIDDEN = "forbidden"  # 402 / 403: the account is deactivated or barred
    MODEL_UNSUPPORTED = "model_unsupported"  # model not available for this account
    BAD_REQUEST = "bad_request"  # 400 / 404 / 422 for what the client sent: never retried
    CONTEXT_TOO_LARGE = "context_too_large"
    SERVER_ERROR = "server_error"  # 408 / 5xx / overloaded
    DISCONNECTED = "disconnected"  # transport error or stream cut before completion
    CLOUDFLARE = "cloudflare"
    CLIENT_ERROR = "client_error"  # produced by the proxy itself (bad JSON, unknown model, ...)
    INTERNAL = "internal"  # a bug of ours: an exception nobody expected
    KEY_LIMIT = "key_limit"  # the client key's own limit or model rule refused it: no account asked


class Blame(StrEnum):
    """Whose fault a failure is. One table decides (:data:`BLAME`); logs, tests and docs use these words.

    Only the account's own failure rests an account. The upstream's transient failures are retried,
    at once on another account or after a short backoff on the same one, and rest an account only when
    they repeat. The request's and ours never touch an account.
    """

    REQUEST = "the request's"
    ACCOUNT = "the account's"
    UPSTREAM = "the upstream's (transient)"
    OURS = "ours"


BLAME: Mapping[Outcome, Blame] = MappingProxyType({
    Outcome.OK: Blame.REQUEST,  # never asked: a success blames nobody
    Outcome.BAD_REQUEST: Blame.REQUEST,
    Outcome.CONTEXT_TOO_LARGE: Blame.REQUEST,
    Outcome.CLIENT_ERROR: Blame.REQUEST,
    Outcome.KEY_LIMIT: Blame.REQUEST,
    Outcome.QUOTA_EXHAUSTED: Blame.ACCOUNT,
    Outcome.NO_QUOTA: Blame.ACCOUNT,
    Outcome.UNAUTHORIZED: Blame.ACCOUNT,
    Outcome.FORBIDDEN: Blame.ACCOUNT,
    Outcome.MODEL_UNSUPPORTED: Blame.ACCOUNT,
    Outcome.RATE_LIMITED: Blame.UPSTREAM,  # a long Retry-After makes it the account's: ProxyError.blame
    Outcome.SERVER_ERROR: Blame.UPSTREAM,
    Outcome.DISCONNECTED: Blame.UPSTREAM,
    Outcome.CLOUDFLARE: Blame.UPSTREAM,
    Outcome.INTERNAL: Blame.OURS,
})
# A rate limit that lifts within this many seconds is a blip of the backend, not the account's state.
SHORT_RATE_LIMIT = 60.0
# Failures another account (or the same one, a moment later) may not repeat: the runner tries again.
RETRIED = frozenset({Blame.ACCOUNT, Blame.UPSTREAM})


@dataclass
class ProxyError(Exception):
    """A failure the client is told about. Immutable: a changed error is a new one (:meth:`replace`).

    ``code`` is the machine-readable reason (OpenAI style, e.g. ``rate_limit_exceeded``);
    ``retry_after`` is seconds until a retry can succeed, when known; ``extra`` carries
    dialect-specific fields (e.g. Codex's ``resets_at`` for the pool-exhausted 429).

    Not ``frozen=True``: a frozen dataclass refuses every attribute, and the interpreter's own helpers
    set ``__traceback__`` from Python (``contextlib`` on the way out of a ``with``, Starlette's
    exception handler after rendering, ``add_note``). So the fields are write-once and the rest of
    the exception stays an exception.
    """

    status: int
    message: str
    code: str = ""
    type: str = ""
    outcome: Outcome = Outcome.CLIENT_ERROR
    retry_after: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dataclass_fields__ and name in self.__dict__:
            raise FrozenInstanceError(f"ProxyError is immutable; use replace() for a new {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name in self.__dataclass_fields__:
            raise FrozenInstanceError(f"ProxyError is immutable; cannot delete {name!r}")
        super().__delattr__(name)

    def replace(self, **changes: Any) -> Self:
        """The same error with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def with_message(self, message: str) -> Self:
        """The same error saying ``message`` (e.g. with a hint the route knows and the registry does not)."""
        return self.replace(message=message)

    @property
    def blame(self) -> Blame:
        """Whose fault this is: :data:`BLAME`, except that a long rate limit is the account's."""
        if self.outcome is Outcome.RATE_LIMITED and (self.retry_after or 0.0) > SHORT_RATE_LIMIT:
            return Blame.ACCOUNT
        return BLAME[self.outcome]

    @property
    def retryable(self) -> bool:
        """Whether another attempt may succeed: the account's and the upstream's failures."""
        return self.blame in RETRIED

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
    """Always a real Anthropic error type (docs/errors.md, "How the type is chosen").

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
