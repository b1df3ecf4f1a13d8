"""The Amp routes, mounted whether or not ``ampcode`` is configured (a reload never adds or removes one).

Provider routes serve Amp's inference (``/api/provider/<provider>/…``; the non-``/v1`` forms are
for providers whose base URL has none); the ``/api/…`` control-plane paths and the root-level
pages go to the Amp upstream (``control``). Model lists are the pool's, in the shape the provider
segment names (``anthropic``, ``google``, anything else OpenAI's). Token counts are made here, free.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.amp.control import control_plane, google_bridge, page
from cliproxy.amp.outbound import services_of
from cliproxy.amp.paths import AUTH_PAGE, CONTROL_EXACT, CONTROL_PATHS, FEEDS, GET_PAGES, GOOGLE_BRIDGE
from cliproxy.amp.provider import PUBLIC, gemini_call, provider_handler
from cliproxy.server.json import JSONResponse
from cliproxy.server.model_lists import anthropic_model_list, gemini_model_list, openai_model_list

PROVIDER = "/api/provider/{provider}"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


async def model_list(request: Request) -> Response:
    models = services_of(request).holder.current.registry.models()
    provider = request.path_params.get("provider", "").lower()
    if provider == "anthropic":
        return JSONResponse(anthropic_model_list(models))
    if provider == "google":
        return JSONResponse(gemini_model_list(models))
    return JSONResponse(openai_model_list(models))


async def gemini_list(request: Request) -> Response:
    return JSONResponse(gemini_model_list(services_of(request).holder.current.registry.models()))


def _provider_routes() -> list[Route]:
    routes = []
    for version in ("", "/v1"):
        routes += [Route(f"{PROVIDER}{version}/models", model_list, methods=["GET"]),
                   Route(f"{PROVIDER}{version}/chat/completions", provider_handler("/v1/chat/completions"),
                         methods=["POST"]),
                   Route(f"{PROVIDER}{version}/completions", provider_handler("/v1/completions"), methods=["POST"]),
                   Route(f"{PROVIDER}{version}/responses", provider_handler("/v1/responses"), methods=["POST"])]
    return [*routes,
            Route(f"{PROVIDER}/v1/messages", provider_handler("/v1/messages"), methods=["POST"]),
            Route(f"{PROVIDER}/v1/messages/count_tokens", PUBLIC["/v1/messages/count_tokens"], methods=["POST"]),
            Route(f"{PROVIDER}/v1beta/models", gemini_list, methods=["GET"]),
            Route(f"{PROVIDER}/v1beta/models/{{rest:path}}", gemini_call, methods=["GET", "POST"])]


def _control_routes() -> list[Route]:
    routes = [Route(GOOGLE_BRIDGE + "/{rest:path}", google_bridge, methods=ALL_METHODS)]
    for path in CONTROL_PATHS:
        routes += [Route(path, control_plane, methods=ALL_METHODS),
                   Route(path + "/{rest:path}", control_plane, methods=ALL_METHODS)]
    routes += [Route(path, control_plane, methods=ALL_METHODS) for path in CONTROL_EXACT]
    for path in GET_PAGES:
        routes += [Route(path, page, methods=["GET"]), Route(path + "/{rest:path}", page, methods=["GET"])]
    routes += [Route(path, page, methods=["GET"]) for path in FEEDS]
    return [*routes, Route(AUTH_PAGE, page, methods=ALL_METHODS), Route(AUTH_PAGE + "/{rest:path}", page,
                                                                          methods=ALL_METHODS)]


AMP_ROUTES = [*_provider_routes(), *_control_routes()]

__all__ = ["AMP_ROUTES"]
