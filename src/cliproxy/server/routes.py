"""One handler per public route, thin: parse, translate, call the runner, stream or answer.

A ``ProxyError`` raised here is not rendered here: the app's one handler (``server/errors.py``) renders
it in the dialect of the path, as a real HTTP status, before anything of the response was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.config.models import ResolvedModel, apply_reasoning
from cliproxy.dialects import anthropic, completions, gemini, openai_chat, openai_responses
from cliproxy.dialects.base import Dialect, TranslatedRequest
from cliproxy.dialects.tokens import count_anthropic_tokens, count_codex_body_tokens
from cliproxy.errors import ProxyError, bad_request
from cliproxy.pool.affinity import session_id
from cliproxy.pool.shortage import all_disabled, no_accounts
from cliproxy.runner import Call, CallResult
from cliproxy.server.body import read_json
from cliproxy.server.codex_fit import client_version, fit_for_client
from cliproxy.server.event_stream import EventStream
from cliproxy.server.json import JSONResponse
from cliproxy.server.model_lists import (
    anthropic_model_list,
    codex_model_catalogue,
    gemini_model_entry,
    gemini_model_list,
    openai_model_list,
)
from cliproxy.server.observe import Trace
from cliproxy.server.passthrough import passed_headers
from cliproxy.server.services import Services

SSE_HEADERS = {"cache-control": "no-cache", "connection": "keep-alive", "x-accel-buffering": "no"}


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def healthz(request: Request) -> Response:
    if request.method == "HEAD":
        return Response(status_code=200)
    return JSONResponse({"status": "ok"})


async def root(request: Request) -> Response:
    return JSONResponse({"message": "cliproxy: OpenAI / Anthropic / Gemini compatible API backed by ChatGPT Codex",
                         "endpoints": ["POST /v1/chat/completions", "POST /v1/completions",
                                       "POST /v1/responses", "POST /v1/messages", "GET /v1/models",
                                       "POST /v1beta/models/{model}:generateContent", "GET /v1beta/models"]})


async def list_models(request: Request) -> Response:
    registry = _services(request).holder.current.registry
    if "client_version" in request.query_params:
        version = client_version(request.query_params, request.headers)
        return JSONResponse(fit_for_client(codex_model_catalogue(registry.models(include_hidden=True)), version))
    models = registry.models()
    if request.headers.get("user-agent", "").startswith("claude-cli"):
        return JSONResponse(anthropic_model_list(models))
    return JSONResponse(openai_model_list(models))


def _build_call(request: Request, dialect: Dialect, translated: TranslatedRequest,
                session: str | None = None) -> Call:
    """``session`` (affinity) is derived here unless the route passes it ("" = none)."""
    snapshot = _services(request).holder.current
    if not snapshot.credentials:
        raise no_accounts()
    if all(credential.disabled for credential in snapshot.credentials):
        raise all_disabled(len(snapshot.credentials))
    model: ResolvedModel = snapshot.registry.resolve(translated.model)
    apply_reasoning(translated.body, model, dialect.same_family_as_codex)
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
    return await run(request, _build_call(request, dialect, translated, session))


async def run(request: Request, call: Call) -> Response:
    """Answer a prepared call: one JSON body, or a stream committed at its first frame."""
    services = _services(request)
    dialect = call.dialect
    result = CallResult()
    trace = services.ops.observer.begin(request, call, result, await request.body())
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
    headers = {**SSE_HEADERS, **services.runner.quota_headers(call)}
    if call.config.passthrough_headers:
        headers = {**passed_headers(result.upstream_headers), **headers}
    return EventStream(_prepend(first, stream, trace), media_type="text/event-stream", headers=headers)


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
    "Claude Code's own model names are not served by this proxy. Point them at a served model, e.g. "
    "ANTHROPIC_DEFAULT_OPUS_MODEL=gpt-5.5 ANTHROPIC_DEFAULT_SONNET_MODEL=gpt-5.4 "
    "ANTHROPIC_DEFAULT_HAIKU_MODEL=gpt-5.4-mini, or pass --model gpt-5.5."
)


async def messages(request: Request) -> Response:
    """Anthropic Messages (Claude Code), with the session's reasoning replayed across turns."""
    translated = anthropic.translate_request(await read_json(request), request.headers)
    try:
        call = _build_call(request, anthropic.DIALECT, translated)
    except ProxyError as err:  # not rendered here: the same error, with a hint only this route knows
        if err.status == 404 and translated.model.lower().startswith("claude"):
            raise err.with_message(f"{err.message} {CLAUDE_MODEL_HINT}") from None
        raise
    call = _replay_reasoning(request, call)
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
    return replace(call, on_completed=lambda response: replay.remember(model_id, session, response.get("output")))


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
    call = _build_call(request, openai_responses.DIALECT, translated)
    status, payload = await _services(request).runner.compact(call)
    return Response(payload, status_code=status, media_type="application/json")


GEMINI_ACTIONS = ("generateContent", "streamGenerateContent", "countTokens")


async def gemini_models(request: Request) -> Response:
    """The Gemini API surface: ``/v1beta/models[/{name}]`` (GET) and ``{model}:{action}`` (POST).

    One path route split on the colon by hand (Starlette path parameters do not take ``:``
    reliably). An unknown action is a 404 in Google's shape, as any unknown path is. Streams are
    SSE whatever ``alt`` says: the google-genai SDK always asks for ``alt=sse``.
    """
    rest = request.path_params.get("rest", "")
    if request.method == "GET":
        registry = _services(request).holder.current.registry
        if not rest:
            return JSONResponse(gemini_model_list(registry.models()))
        entry = next((m for m in registry.models() if m.id == rest.removeprefix("models/")), None)
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
    return await serve(request, gemini.DIALECT, body)


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
