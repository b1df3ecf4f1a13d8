"""The frozen inputs of one client request (``Call``) and what it produced (``CallResult``)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cliproxy.config.schema import Config
from cliproxy.credential import Credential
from cliproxy.dialects.base import Dialect, TranslatedRequest
from cliproxy.errors import ProxyError
from cliproxy.upstream.codex import Upstream
from cliproxy.upstream.payload import rules_of
from cliproxy.upstream.request import UpstreamRequest, check_client_headers

RefreshFn = Callable[[Credential], Awaitable[Credential]]
Attempt = Callable[[Credential], Awaitable["ProxyError | None"]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """Everything one client request needs to be sent, whatever its dialect; fixed once built."""

    dialect: Dialect
    request: TranslatedRequest
    model_id: str
    candidates: tuple[Credential, ...]
    upstream_name: Callable[[Credential], str]
    client_headers: Mapping[str, str]
    config: Config  # the snapshot the request started with
    prompt_cache_key: str | None = None
    session: str | None = None  # keeps a conversation on the account holding its prompt cache
    candidates_key: Hashable | None = None  # names the candidate set so the pool reuses its index
    # Called with the terminal response object (e.g. to remember a Claude session's reasoning).
    on_completed: Callable[[dict[str, Any]], None] | None = None
    # Called with the error the call ends with (e.g. to forget a Claude session's rejected reasoning).
    on_failed: Callable[[ProxyError], None] | None = None
    request_id: str = field(default_factory=lambda: secrets.token_hex(8))  # named in logs and in our 500s
    # How the attempts reach the backend when not the runner's own way (a WebSocket turn: the
    # client socket's upstream socket where it may serve, HTTP elsewhere).
    upstream: Upstream | None = None
    # The client headers that pass through, checked once: a copy made by ``replace`` keeps them
    # (one that changes ``client_headers`` passes ``forwarded=None`` to have them checked again).
    forwarded: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.forwarded is None:
            object.__setattr__(self, "forwarded", check_client_headers(self.client_headers, self.prompt_cache_key))

    def upstream_request(self, credential: Credential, by_name_only: frozenset[bytes] = frozenset(),
                         ) -> UpstreamRequest:
        """What one attempt on ``credential`` asks of the backend (the model name is per account)."""
        return UpstreamRequest(
            body=self.request.body, model=self.upstream_name(credential), dialect=self.dialect.name,
            client_headers=self.client_headers, prompt_cache_key=self.prompt_cache_key,
            by_name_only=by_name_only, user_agent=self.config.codex_header_defaults.user_agent,
            image_generation=not self.config.image_generation_disabled,
            payload_rules=rules_of(self.config.payload), requested_model=self.request.model,
            forwarded=self.forwarded)


@dataclass(slots=True)
class CallResult:
    """What one call produced, filled in by the runner as it goes; observers read it afterwards."""

    usage: dict[str, Any] = field(default_factory=dict)  # the terminal response's ``usage``
    credential: Credential | None = None  # the account whose attempt succeeded
    first_content_at: float | None = None  # ``time.monotonic()`` when content first reached the client
    error: ProxyError | None = None  # the error that ended a stream after it was committed
    upstream_headers: Mapping[str, str] = field(default_factory=dict)  # the serving attempt's answer headers


__all__ = ["Attempt", "Call", "CallResult", "RefreshFn"]
