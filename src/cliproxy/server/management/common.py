"""What every management endpoint shares: its context, JSON answers, and config-file edits.

A write never touches the running snapshot directly: it edits the config file (comments kept),
and the reloader validates it and swaps the snapshot through the same path as a user's save. What
leaves the API is masked: keys, secrets and tokens appear only as ``abcd…wxyz``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

from cliproxy.auth.schedule import RefreshScheduler
from cliproxy.config import edit as config_edit
from cliproxy.config.exposure import OpenToTheNetwork
from cliproxy.config.reload import Reloader
from cliproxy.config.schema import Config, ConfigError
from cliproxy.config.snapshot import SnapshotHolder
from cliproxy.keys.counters import KeyCounters
from cliproxy.observe.logs import mask
from cliproxy.observe.request_log import RequestLogger
from cliproxy.observe.usage import UsageWriter
from cliproxy.pool.core import Pool
from cliproxy.server.json import JSONResponse
from cliproxy.upstream.codex import CodexUpstream

log = logging.getLogger(__name__)
# Config keys whose values are secrets (strings, or lists of strings), at any depth.
SECRET_KEYS = frozenset({"api-keys", "api-key", "secret-key", "upstream-api-key", "password", "token", "key",
                         "access-token", "refresh-token",
                         "accounts-key"})  # state.accounts-key: the key that encrypts account records in Redis
SECRET_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "x-goog-api-key", "proxy-authorization"})
# Keys holding a URL whose ``user:password@`` part is a secret: a proxy (config kebab-case, account files
# snake_case) and the shared state's Redis (``state.url``).
PROXY_KEYS = frozenset({"proxy-url", "proxy_url", "url"})


class BadBody(Exception):
    """The request body or query cannot be used; the message is what the client is told."""

    def __init__(self, message: str = "invalid body", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def body_too_large(limit: int) -> BadBody:
    """A 413 naming the limit; the log line names the key that raises it."""
    log.warning("refused a management request: its body is over %d bytes (raise `limits.request-body-bytes` "
                "to allow it)", limit)
    return BadBody(f"the request body is larger than this server accepts ({limit} bytes)", 413)


def bounded_receive(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises a 413 BadBody once the body passes ``limit``, so that no endpoint (JSON,
    YAML or a multipart upload) holds more than ``limits.request-body-bytes`` of a request in memory."""
    seen = 0

    async def receive_within() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise body_too_large(limit)
        return message

    return receive_within


@dataclass
class ManagementContext:
    """What the endpoints act on, handed over by the server's composition root."""

    holder: SnapshotHolder
    pool: Pool
    scheduler: RefreshScheduler
    reloader: Reloader
    usage: UsageWriter | None = None
    request_log: RequestLogger | None = None
    edit_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    counters: KeyCounters | None = None  # the client keys' counts (reset, listing)
    upstream: CodexUpstream | None = None  # the way out for ``api-call``

    @property
    def config(self) -> Config:
        return self.holder.current.config


def ok(**extra: Any) -> Response:
    return JSONResponse({"status": "ok", **extra})


def error(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def json_body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadBody() from None


def endpoint(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Turn BadBody raised anywhere in a handler into ``{"error": ...}``."""

    async def wrapped(request: Request) -> Response:
        try:
            response: Response = await handler(request)
        except BadBody as exc:
            return error(exc.message, exc.status)
        return response

    return wrapped


# ---- masking ----------------------------------------------------------------------------------------

def mask_proxy_url(url: str) -> str:
    """``socks5://me:hunter2@host:1080`` → ``socks5://me:…@host:1080``: the proxy and the user stay
    readable, nothing of the password does (a short password would be half shown by ``mask``). A URL
    without credentials is returned as is."""
    scheme, separator, rest = url.partition("://")
    userinfo, at, place = rest.rpartition("@")
    if not separator or not at:
        return url
    user, colon, _ = userinfo.partition(":")
    masked = f"{user}:…" if colon else "…"
    return f"{scheme}://{masked}@{place}"


def _masked(key: Any, value: str) -> str:
    return mask_proxy_url(value) if key in PROXY_KEYS else mask(value)


def _mask_any(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value) if value else value
    if isinstance(value, list):
        return [_mask_any(item) for item in value]
    return mask_secrets(value)


def mask_secrets(value: Any) -> Any:
    """A copy of config-shaped data with every secret value masked (plain dicts and lists)."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if key in SECRET_KEYS:
                out[key] = _mask_any(item)
            elif key in PROXY_KEYS and isinstance(item, str):
                out[key] = mask_proxy_url(item)
            elif key == "headers" and isinstance(item, dict):
                out[key] = {k: mask(str(v)) if str(k).lower() in SECRET_HEADERS else v for k, v in item.items()}
            else:
                out[key] = mask_secrets(item)
        return out
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def _walk_secrets(node: Any, visit: Callable[[Any, Any, str], None]) -> None:
    """Call ``visit(container, key_or_index, value)`` for every secret string in a document."""
    if isinstance(node, dict):
        for key in list(node):
            item = node[key]
            secret = key in SECRET_KEYS or (isinstance(key, str) and key.lower() in SECRET_HEADERS)
            if (secret or key in PROXY_KEYS) and isinstance(item, str):
                visit(node, key, item)
            elif secret and isinstance(item, list):
                for index, entry in enumerate(item):
                    if isinstance(entry, str):
                        visit(item, index, entry)
                    else:
                        _walk_secrets(entry, visit)
            else:
                _walk_secrets(item, visit)
    elif isinstance(node, list):
        for entry in node:
            _walk_secrets(entry, visit)


def mask_document(doc: Any) -> None:
    """Mask the secrets of a round-trip document in place (for the YAML download)."""
    def visit(container: Any, key: Any, value: str) -> None:
        if value:
            container[key] = _masked(key, value)

    _walk_secrets(doc, visit)


def restore_masked(doc: Any, original: Any) -> None:
    """Put back secrets the client sent in masked form, taken from the current file."""
    known: dict[str, str] = {}

    def collect(_container: Any, key: Any, value: str) -> None:
        if value:
            known.setdefault(_masked(key, value), value)

    _walk_secrets(original, collect)

    def visit(container: Any, key: Any, value: str) -> None:
        if value in known:
            container[key] = known[value]

    _walk_secrets(doc, visit)


def matches(candidate: str, value: str) -> bool:
    """A client may name a secret by its value or by its masked form."""
    return bool(candidate) and (candidate == value or candidate == mask(value))


# ---- config edits -----------------------------------------------------------------------------------

async def edit_config(ctx: ManagementContext, change: Callable[[Any], None]) -> Response:
    """Read the file, apply ``change`` to its document, validate, write, reload; ``{"status":"ok"}``."""
    async with ctx.edit_lock:
        text = ctx.reloader.config_text()
        try:
            doc = config_edit.load_document(text)
        except ConfigError as exc:
            return error(f"the config file cannot be edited: {exc}", 409)
        change(doc)
        return await save_text(ctx, config_edit.dump_document(doc, like=text))


async def save_text(ctx: ManagementContext, text: str) -> Response:
    try:
        await ctx.reloader.write_config(text)
    except OpenToTheNetwork as exc:  # conflicts with how the server listens: the keys stay
        return error(str(exc), 409)
    except ConfigError as exc:
        return error(str(exc))
    except OSError as exc:
        return error(f"could not write the config file: {exc.strerror}", 500)
    return ok()


__all__ = ["BadBody", "ManagementContext", "body_too_large", "bounded_receive", "edit_config", "endpoint", "error",
           "json_body", "mask_document", "mask_proxy_url", "mask_secrets", "matches", "ok", "restore_masked",
           "save_text"]
