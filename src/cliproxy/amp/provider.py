"""Amp's inference routes (``/api/provider/<provider>/…``): served here when the pool can, else forwarded.

Each request is read once (within the ``limits:`` bounds), cleaned (``sanitize``) and decided on by
its model name (``mapping.decide``); the provider segment of the path plays no part. Served here,
the body goes to the public route's own handler in ``server/routes.py`` (one code path for every
client), its answer rewritten for Amp (``rewrite``). Not served here, it goes to ampcode.com (within
the client key's model rules and request limits, as a call served here would be) with
``X-Cliproxy-Served-By: ampcode.com`` and one log line naming the model, so spent Amp credits are
never a surprise; with ``ampcode.fallback: false``, or no upstream, the client gets an error in its
own dialect that names the model and the mapping that would serve it here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cliproxy.amp.mapping import Decision, Way, decide
from cliproxy.amp.module import AmpSettings
from cliproxy.amp.outbound import pass_on, services_of
from cliproxy.amp.rewrite import Rewriter, StreamRewriter, mapped_message, request_tools
from cliproxy.amp.sanitize import filter_beta, sanitize_messages
from cliproxy.config.limits import Limits
from cliproxy.config.models import ModelRegistry
from cliproxy.errors import ProxyError
from cliproxy.keys.counters import KeyCounters, Reservation
from cliproxy.keys.policy import check_model
from cliproxy.server.body import decode_body, read_body
from cliproxy.server.key_admission import close, key_of, reserve
from cliproxy.server.routes import ROUTES

log = logging.getLogger(__name__)

# The public routes' own handlers, called with the request as Amp's route received it.
Handler = Callable[[Request], Awaitable[Response]]
PUBLIC: dict[str, Handler] = {route.path: route.endpoint for route in ROUTES if isinstance(route, Route)}
_DROPPED_HEADERS = (b"content-length", b"content-encoding", b"anthropic-beta")


def serves(registry: ModelRegistry) -> Callable[[str], bool]:
    """Whether the pool serves a model name, as the public routes would resolve it."""
    def check(name: str) -> bool:
        try:
            registry.resolve(name)
        except ProxyError:
            return False
        return True

    return check


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def gemini_model(tail: str) -> str:
    """``gemini-x:generateContent`` → ``gemini-x``; nothing when there is no model before the colon."""
    model, colon, _ = tail.lstrip("/").partition(":")
    return model if colon else ""


@dataclass
class _Incoming:
    """A provider call's body: as sent, decoded, parsed (None when not a JSON object), cleaned or not."""

    raw: bytes
    data: bytes
    body: dict[str, Any] | None
    cleaned: bool

    def model(self, gemini_tail: str | None) -> str:
        model = self.body.get("model") if self.body is not None else None
        return model if isinstance(model, str) else gemini_model(gemini_tail or "")

    def for_upstream(self) -> bytes:
        """The bytes as sent when nothing was cleaned (their coding kept), else the cleaned JSON."""
        return orjson.dumps(self.body) if self.cleaned else self.raw


async def _incoming(request: Request, limits: Limits) -> _Incoming:
    raw = await read_body(request, limits.request_body_bytes)
    data = decode_body(raw, request.headers.get("content-encoding", ""), limits.request_decoded_bytes)
    body = _json_object(data)
    return _Incoming(raw, data, body, body is not None and sanitize_messages(body))


async def provider_call(request: Request, local_path: str, gemini_tail: str | None = None) -> Response:
    """Decide, then serve here or forward (module docstring)."""
    services = services_of(request)
    snapshot = services.holder.current
    settings = services.amp.settings(snapshot.config)
    incoming = await _incoming(request, snapshot.config.limits)
    requested = incoming.model(gemini_tail)
    if not requested.strip():  # the handler's own validation answers
        return await PUBLIC[local_path](_local_request(request, incoming.data, gemini_tail))
    decision = decide(requested, settings.mapper, serves(snapshot.registry), settings.section.force_model_mappings)
    if decision.way is Way.UPSTREAM:
        return await _fallback(request, settings, decision, incoming, snapshot.registry)
    answer = await _served_here(PUBLIC[local_path], _local_request(request, _local_body(incoming, decision),
                                                                   _gemini_tail(gemini_tail, decision.model)), decision)
    served = decision.model if decision.way is Way.MAPPED else ""
    rewriter = Rewriter(requested, request_tools(incoming.body or {}), suppress_thinking=True, served=served)
    return _rewritten(answer, rewriter, snapshot.config.limits.amp_rewrite_bytes)


async def _served_here(handler: Handler, local: Request, decision: Decision) -> Response:
    """The public handler's answer; its error, for a mapped model, headed by the model Amp asked for
    (the error speaks of the model that served it, which Amp never named)."""
    try:
        return await handler(local)
    except ProxyError as err:
        if decision.way is not Way.MAPPED:
            raise
        raise err.with_message(mapped_message(decision.requested, decision.model, err.message)) from err


def _local_body(incoming: _Incoming, decision: Decision) -> bytes:
    """The body for the pool: the mapped model in place of Amp's, re-encoded only when changed."""
    body = incoming.body
    if body is None:
        return incoming.data
    if decision.way is Way.MAPPED and "model" in body:
        body["model"] = decision.model
        return orjson.dumps(body)
    return orjson.dumps(body) if incoming.cleaned else incoming.data


def _gemini_tail(tail: str | None, model: str) -> str | None:
    """``{model}:{method}`` with the model the pool serves."""
    return f"{model}:{tail.partition(':')[2]}" if tail else None


def _local_request(request: Request, body: bytes, gemini_tail: str | None) -> Request:
    """The request as the public handler must see it: the body decoded and cleaned, the 1M-context
    beta dropped, the Gemini model in the path parameter."""
    headers = [(k, v) for k, v in request.scope["headers"] if k not in _DROPPED_HEADERS]
    if beta := filter_beta(request.headers.get("anthropic-beta", "")):
        headers.append((b"anthropic-beta", beta.encode("latin-1")))
    headers.append((b"content-length", str(len(body)).encode()))
    scope = {**request.scope, "headers": headers}
    if gemini_tail is not None:
        scope["path_params"] = {**request.path_params, "rest": gemini_tail}
    local = Request(scope, request.receive)
    local._body = body
    return local


async def _fallback(request: Request, settings: AmpSettings, decision: Decision, incoming: _Incoming,
                    registry: ModelRegistry) -> Response:
    if not settings.upstream or not settings.section.fallback:
        raise not_served(decision.requested, registry, upstream=bool(settings.upstream))
    counters = services_of(request).counters
    reservation = await _admit_forward(request, decision, counters)
    log.info("Amp: model %s is not served by this proxy; forwarded to ampcode.com (uses Amp credits)",
             decision.requested)
    answer = await pass_on(request, settings, incoming.for_upstream(), incoming.cleaned)
    if reservation is not None:
        close(counters, reservation, 0, produced=answer.status_code < 400)
    return answer


async def _admit_forward(request: Request, decision: Decision, counters: KeyCounters) -> Reservation | None:
    """A forward spends Amp credits in place of the pool's, so the client key's model rules and
    request limits hold for it too (its tokens are ampcode.com's to count: one request each)."""
    key = key_of(request)
    if key is not None and key.named:
        check_model(key, (decision.requested,))
    return await reserve(counters, key, {})


def not_served(model: str, registry: ModelRegistry, upstream: bool) -> ProxyError:
    """The refusal that says what to add to serve ``model`` here."""
    listed = registry.models()
    target = listed[0].id if listed else "<a model this proxy serves>"
    why = ("the fallback to ampcode.com is off (`ampcode.fallback: false`)" if upstream
           else "no Amp upstream is configured (`ampcode.upstream-url`)")
    return ProxyError(404, f"Model {model!r} is not served by this proxy's accounts and {why}. To serve it here, "
                      f"add to the config: ampcode.model-mappings: [{{from: \"{model}\", to: \"{target}\"}}]",
                      code="model_not_found", type="not_found_error")


def _rewritten(answer: Response, rewriter: Rewriter, limit: int) -> Response:
    if isinstance(answer, StreamingResponse):
        answer.body_iterator = _rewrite_stream(answer.body_iterator, StreamRewriter(rewriter, limit))
        return answer
    body = rewriter.body(bytes(answer.body), limit)
    out = Response(body, status_code=answer.status_code)
    out.raw_headers = [(k, v) for k, v in answer.raw_headers if k != b"content-length"]
    out.raw_headers.append((b"content-length", str(len(body)).encode()))
    return out


async def _rewrite_stream(chunks: AsyncIterable[Any], stream: StreamRewriter) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if out := stream.feed(chunk if isinstance(chunk, bytes) else str(chunk).encode()):
            yield out
    if rest := stream.finish():
        yield rest


def provider_handler(local_path: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        return await provider_call(request, local_path)

    return endpoint


async def gemini_call(request: Request) -> Response:
    """``/v1beta/models/{model}:{method}`` (POST) under a provider prefix; GET lists or describes."""
    if request.method == "GET":
        return await PUBLIC["/v1beta/models/{rest:path}"](request)
    return await provider_call(request, "/v1beta/models/{rest:path}", request.path_params.get("rest", ""))


__all__ = ["PUBLIC", "gemini_call", "gemini_model", "not_served", "provider_call", "provider_handler", "serves"]
