"""One handler per public route, thin: parse, translate, call the runner, stream or answer.

A ``ProxyError`` raised here is not rendered here: the app's one handler (``server/errors.py``) renders
it in the dialect of the path, as a real HTTP status, before anything of the response was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.config.catalogue import ModelInfo
from cliproxy.config.models import ResolvedModel, apply_reasoning
from cliproxy.dialects import anthropic, completions, gemini, openai_chat, openai_responses
from cliproxy.dialects.base import Dialect, TranslatedRequest
from cliproxy.dialects.tokens import count_anthropic_tokens, count_codex_body_tokens, estimate_codex_body_tokens
from cliproxy.errors import ProxyError, bad_request
from cliproxy.pool.affinity import session_id
from cliproxy.pool.shortage import all_disabled, no_accounts
from cliproxy.runner import Call, CallResult
from cliproxy.server.body import read_json
from cliproxy.server.codex_fit import client_version, fit_for_client
from cliproxy.server.event_stream import EventStream
from cliproxy.server.json import JSONResponse
from cliproxy.server.key_admission import apply_rules, key_of, reserve
from cliproxy.server.model_lists import (
    anthropic_model_list,
    codex_model_catalogue,
    gemini_model_entry,
    gemini_model_list,
    openai_model_list,
    served_models,
)
from cliproxy.server.observe import Trace
from cliproxy.server.passthrough import passed_headers
from cliproxy.server.services import Services

SSE_HEADERS = {"cache-control": "no-cache", "connection": "keep-alive", "x-accel-buffering": "no"}


def _services(request: HTTPConnection) -> Services:
    services: Services = request.app.state.services
    return services


async def healthz(request: Request) -> Response:
    if request.method == "HEAD":
        return Response(status_code=200)
    state = _services(request).state.health()  # several instances: is the shared state reachable?
    return JSONResponse({"status": "ok"} if state.backend == "embedded" else {"status": "ok", "state": state.as_dict()})


async def root(request: Request) -> Response:
    return JSONResponse({"message": "cliproxy: OpenAI / Anthropic / Gemini compatible API backed by ChatGPT Codex",
                         "endpoints": ["POST /v1/chat/completions", "POST /v1/completions",
                                       "POST /v1/responses", "POST /v1/messages", "GET /v1/models",
                                       "POST /v1beta/models/{model}:generateContent", "GET /v1beta/models"]})


def _listed(request: Request, include_hidden: bool = False) -> list[ModelInfo]:
    """The models this caller may use: served by the pool, and allowed by its client key's rules."""
    services = _services(request)
    models = served_models(services.holder.current.registry, services.runner.pool, include_hidden)
    key = key_of(request)
    return models if key is None or not key.models else [m for m in models if key.allows((m.id,))]


async def list_models(request: Request) -> Response:
    if "client_version" in request.query_params:
        version = client_version(request.query_params, request.headers)
        return JSONResponse(fit_for_client(codex_model_catalogue(_listed(request, include_hidden=True)), version))
    models = _listed(request)
    if request.headers.get("user-agent", "").startswith("claude-cli"):
        return JSONResponse(anthropic_model_list(models))
    return JSONResponse(openai_model_list(models))


def build_call(request: HTTPConnection, dialect: Dialect, translated: TranslatedRequest,
               session: str | None = None) -> Call:
    """``session`` (affinity) is derived here unless the route passes it ("" = none). Also the
    WebSocket session's, once per turn."""
    snapshot = _services(request).holder.current
    if not snapshot.credentials:
        raise no_accounts()
    if all(credential.disabled for credential in snapshot.credentials):
        raise all_disabled(len(snapshot.credentials))
    model: ResolvedModel = snapshot.registry.resolve(translated.model)
    apply_reasoning(translated.body, model, dialect.same_family_as_codex)
    apply_rules(request, translated, model)
    registry = snapshot.registry
    cache_key = translated.body.get("prompt_cache_key")
    return Call(
        dialect=dialect,
        request=translated,
        model_id=model.id,
        candidates=registry.candidates(model),
        upstream_name=lambda credential: registry.upstream_name(model, credential),
        client_headers=request.headers,
        config=snapshot.config,
        prompt_cache_key=cache_key if isinstance(cache_key, str) and cache_key else None,
        session=session_id(request.headers, translated.body, translated.session_id) if session is None else session,
        candidates_key=(registry, model.prefix.lower(), model.id.lower()),
    )


async def _prepend(first: bytes, rest: AsyncIterator[bytes], trace: Trace) -> AsyncIterator[bytes]:
    """The stream as sent; the trace sees each chunk and learns how the stream ended."""
    trace.stream_started()
    completed = False
    try:
        trace.chunk(first)
        yield first
        async for chunk in rest:
            trace.chunk(chunk)
            yield chunk
        completed = True
    finally:
        trace.finish_stream(completed)


async def _closed(stream: AsyncGenerator[bytes, None], trace: Trace) -> None:
    """After the answer, however it ended: a client gone before its first byte was written left
    ``_prepend`` unstarted, so the runner's stream (the upstream request) and the trace end here."""
    await stream.aclose()
    if not trace.done:
        trace.abort(asyncio.CancelledError())


async def serve(request: Request, dialect: Dialect, body: dict[str, Any],
                cache_key: str | None = None) -> Response:
    """The path every inference route shares, under the streaming rule of the runner.

    ``cache_key`` is a prompt-cache identity the route derived (Chat: from the client key); the
    dialect's own (Responses ``prompt_cache_key``, Claude session) wins.
    """
    translated = dialect.translate_request(body, request.headers)
    # The session before the derived key is added: that key is per client, not per conversation.
    session = session_id(request.headers, translated.body, translated.session_id) or ""
    if cache_key:
        translated.body.setdefault("prompt_cache_key", cache_key)
    return await run(request, build_call(request, dialect, translated, session))


async def run(request: Request, call: Call) -> Response:
    """Answer a prepared call: one JSON body, or a stream committed at its first content or keepalive."""
    services = _services(request)
    dialect = call.dialect
    result = CallResult()
    estimate = call.request.extra.get("input_tokens")
    reservation = await reserve(services.counters, key_of(request), call.request.body,
                                estimate if isinstance(estimate, int) else None)
    trace = services.ops.observer.begin(request, call, result, await request.body())
    if reservation is not None:
        trace.hold(services.counters, reservation)
    try:
        if not call.request.stream:
            response = await services.runner.complete(call, result)
            answer = JSONResponse(dialect.render_response(response, call.request))
            if call.config.passthrough_headers:
                answer.headers.update(passed_headers(result.upstream_headers))
            trace.finish(200, response=bytes(answer.body))
            return answer
        stream = services.runner.stream(call, result)
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            first = b""
    except BaseException as exc:
        trace.abort(exc)
        raise
    key = key_of(request)
    quota = services.runner.quota_headers(call) if key is None or key.show_pool_quota else {}
    headers = {**SSE_HEADERS, **quota}
    if call.config.passthrough_headers:
        headers = {**passed_headers(result.upstream_headers), **headers}
    return EventStream(_prepend(first, stream, trace), media_type=dialect.stream_media_type, headers=headers,
                       closing=lambda: _closed(stream, trace))


def handler(dialect: Dialect) -> Any:
    """A route handler for a dialect; an error before the commit is rendered by the app's handler."""

    async def endpoint(request: Request) -> Response:
        return await serve(request, dialect, await read_json(request))

    return endpoint


async def chat_completions(request: Request) -> Response:
    """Chat Completions; a Responses-shaped body (Cursor sends one) is converted first."""
    body = await read_json(request)
    if "messages" not in body and ("input" in body or "instructions" in body):
        body = openai_chat.responses_body_to_chat(body)
    key = request.scope.get("state", {}).get("client_key")
    cache_key = openai_chat.chat_prompt_cache_key(key) if key else None
    return await serve(request, openai_chat.DIALECT, body, cache_key)


CLAUDE_MODEL_HINT = (
    "Claude Code's own model names are not served by this proxy: set ANTHROPIC_DEFAULT_OPUS_MODEL, "
    "ANTHROPIC_DEFAULT_SONNET_MODEL and ANTHROPIC_DEFAULT_HAIKU_MODEL to served models "
    "(`cliproxy setup claude --write` writes them into ~/.claude/settings.json), or pass --model."
)


async def messages(request: Request) -> Response:
    """Anthropic Messages (Claude Code), with the session's reasoning replayed across turns.

    An unserved ``claude-*`` name is answered 400 ``invalid_request_error``, not 404: Claude Code
    replaces a 404's message with its own generic text, and prints a 400's message as it came, so
    the hint reaches the person who can act on it."""
    translated = anthropic.translate_request(await read_json(request), request.headers)
    try:
        call = build_call(request, anthropic.DIALECT, translated)
    except ProxyError as err:  # not rendered here: the same error, with a hint only this route knows
        if err.status == 404 and translated.model.lower().startswith("claude"):
            raise err.replace(status=400, message=f"{err.message} {CLAUDE_MODEL_HINT}") from None
        raise
    call = _replay_reasoning(request, call)
    if translated.stream:  # message_start reports the prompt's size (estimated), as the Anthropic API does
        translated.extra["input_tokens"] = estimate_codex_body_tokens(translated.body)
    return await run(request, call)


def _replay_reasoning(request: Request, call: Call) -> Call:
    """The call with the session's earlier reasoning put back, and a hook to remember this turn's."""
    session = call.request.extra.get("claude_session")
    if not isinstance(session, str) or not session:
        return call
    replay = _services(request).replay
    body = call.request.body
    if isinstance(body.get("input"), list):
        body["input"] = replay.apply(call.model_id, session, body["input"])
    model_id = call.model_id

    def failed(error: ProxyError) -> None:  # the backend refused a signature: the next turn starts clean
        if error.code == "thinking_signature_invalid":
            replay.forget(model_id, session)

    return replace(call, on_completed=lambda response: replay.remember(model_id, session, response.get("output")),
                   on_failed=failed)


async def count_tokens(request: Request) -> Response:
    """Counted locally with o200k_base; no account needed (Claude Code's ``/context`` sends no model)."""
    body = await read_json(request)
    count = await asyncio.to_thread(count_anthropic_tokens, body)
    return JSONResponse({"input_tokens": count})


async def compact(request: Request) -> Response:
    """``/v1/responses/compact``: the one non-streaming upstream call, JSON in and JSON out."""
    body = await read_json(request)
    if body.get("stream") is True:
        raise bad_request("Streaming not supported for compact responses")
    translated = TranslatedRequest(body=openai_responses.rewrite_request(body), stream=False,
                                   model=str(body.get("model") or ""))
    if not translated.model:
        raise bad_request("`model` is required")
    call = build_call(request, openai_responses.DIALECT, translated)
    services, result = _services(request), CallResult()
    reservation = await reserve(services.counters, key_of(request), call.request.body)
    trace = services.ops.observer.begin(request, call, result, await request.body())
    if reservation is not None:
        trace.hold(services.counters, reservation)
    try:
        status, payload = await services.runner.compact(call, result)
    except BaseException as exc:
        trace.abort(exc)
        raise
    trace.finish(status, response=payload)
    return Response(payload, status_code=status, media_type="application/json")


GEMINI_ACTIONS = ("generateContent", "streamGenerateContent", "countTokens")


async def gemini_models(request: Request) -> Response:
    """The Gemini API surface: ``/v1beta/models[/{name}]`` (GET) and ``{model}:{action}`` (POST).

    One path route split on the colon by hand (Starlette path parameters do not take ``:``
    reliably). An unknown action is a 404 in Google's shape, as any unknown path is. A stream is
    SSE with ``alt=sse`` (what the google-genai SDK asks for), else one JSON array, as Google answers.
    """
    rest = request.path_params.get("rest", "")
    if request.method == "GET":
        models = _listed(request)
        if not rest:
            return JSONResponse(gemini_model_list(models))
        entry = next((m for m in models if m.id == rest.removeprefix("models/")), None)
        if entry is None:
            raise ProxyError(404, f"models/{rest} is not found.", code="not_found", type="not_found")
        return JSONResponse(gemini_model_entry(entry))
    model, _, action = rest.partition(":")
    if not model or ":" in action or action not in GEMINI_ACTIONS:
        raise ProxyError(404, f"{request.url.path} not found.", code="not_found", type="not_found")
    body = {**await read_json(request), "model": model, "stream": action == "streamGenerateContent"}
    if action == "countTokens":
        count = await asyncio.to_thread(count_codex_body_tokens, gemini.translate_request(body, {}).body)
        return JSONResponse({"totalTokens": count,
                             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": count}]})
    sse = action != "streamGenerateContent" or request.query_params.get("alt") == "sse"
    return await serve(request, gemini.DIALECT if sse else gemini.ARRAY_DIALECT, body)


ROUTES = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/", root, methods=["GET"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/completions", handler(completions.COMPLETIONS_DIALECT), methods=["POST"]),
    Route("/v1/responses", handler(openai_responses.DIALECT), methods=["POST"]),
    Route("/v1/responses/compact", compact, methods=["POST"]),
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
    Route("/v1beta/models", gemini_models, methods=["GET"]),
    Route("/v1beta/models/{rest:path}", gemini_models, methods=["GET", "POST"]),
    Route("/backend-api/codex/responses", handler(openai_responses.CODEX_NATIVE_DIALECT), methods=["POST"]),
    Route("/backend-api/codex/responses/compact", compact, methods=["POST"]),
]
