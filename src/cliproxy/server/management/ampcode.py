"""Management endpoints of the ``ampcode`` section (``/v0/management/ampcode…``).

Writes take ``{"value": …}``, land in the config file (comments kept) and come back through the
reload path like every other setting. The Amp keys are never shown in clear: ``upstream-api-key``
is listed masked with ``set: true/false``, and each ``upstream-api-keys`` entry shows its Amp key and
its client keys masked; a key may be named by its masked form to edit or delete an entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.config import edit as config_edit
from cliproxy.config.schema import to_document
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.common import (
    BadBody,
    ManagementContext,
    edit_config,
    endpoint,
    json_body,
    mask_secrets,
    matches,
)

SECTION = "ampcode"
STRINGS = ("upstream-url", "upstream-api-key")
BOOLS = ("restrict-management-to-localhost", "force-model-mappings", "fallback")


async def _value(request: Request) -> Any:
    body = await json_body(request)
    if not isinstance(body, dict) or "value" not in body:
        raise BadBody("invalid body")
    return body["value"]


def _section(doc: Any) -> Any:
    section = doc.get(SECTION)
    if not isinstance(section, dict):
        section = {}
        doc[SECTION] = section
    return section


def _shown(ctx: ManagementContext) -> dict[str, Any]:
    shown: dict[str, Any] = mask_secrets(to_document(ctx.config.ampcode))
    shown["upstream-api-key-set"] = bool(ctx.config.ampcode.upstream_api_key)
    return shown


def _scalar_route(ctx: ManagementContext, name: str, kind: type) -> Route:
    async def handle(request: Request) -> Response:
        if request.method == "GET":
            shown = _shown(ctx)
            extra = {"set": shown["upstream-api-key-set"]} if name == "upstream-api-key" else {}
            return JSONResponse({name: shown[name], **extra})
        if request.method == "DELETE":
            return await edit_config(ctx, lambda doc: config_edit.delete_key(doc, (SECTION, name)))
        value = await _value(request)
        if not isinstance(value, kind):
            raise BadBody(f"value must be a {kind.__name__}")
        value = value.strip() if isinstance(value, str) else value
        return await edit_config(ctx, lambda doc: config_edit.set_key(doc, (SECTION, name), value))

    methods = ["GET", "PUT", "PATCH"] + (["DELETE"] if kind is str else [])
    return Route(f"/ampcode/{name}", endpoint(handle), methods=methods)


def _mapping_entries(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(e, dict) and isinstance(e.get("from"), str)
                                              and isinstance(e.get("to"), str) for e in value):
        raise BadBody("value must be a list of {from, to, regex} objects")
    return [{"from": e["from"].strip(), "to": e["to"].strip(), **({"regex": True} if e.get("regex") else {})}
            for e in value]


def _key_entries(value: Any, current: list[Any]) -> list[dict[str, Any]]:
    """Normalised entries; an Amp key sent masked keeps the value it masks."""
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise BadBody("value must be a list of {upstream-api-key, api-keys} objects")
    out = []
    for entry in value:
        key = str(entry.get("upstream-api-key") or "").strip()
        was = next((e for e in current if isinstance(e, dict) and matches(key, str(e.get("upstream-api-key")))), None)
        clients = [str(k).strip() for k in entry.get("api-keys") or [] if str(k).strip()]
        if key and clients:
            out.append({"upstream-api-key": str(was["upstream-api-key"]) if was else key, "api-keys": clients})
    return out


def _list_route(ctx: ManagementContext, name: str, entries: Callable[[Any, list[Any]], list[dict[str, Any]]],
                ident: str, deleting: Callable[[str, str], bool]) -> Route:
    async def handle(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({name: _shown(ctx)[name]})
        value = await _value(request) if request.method != "DELETE" or await request.body() else None

        def change(doc: Any) -> None:
            section = _section(doc)
            current = section.get(name) if isinstance(section.get(name), list) else []
            if request.method == "PUT":
                section[name] = entries(value, current)
            elif request.method == "PATCH":
                section[name] = _upserted(current, entries(value if isinstance(value, list) else [value], current),
                                          ident)
            elif isinstance(value, list) and value:
                section[name] = [e for e in current if not any(deleting(str(v), str(e.get(ident))) for v in value)]
            else:
                section[name] = []

        return await edit_config(ctx, change)

    return Route(f"/ampcode/{name}", endpoint(handle), methods=["GET", "PUT", "PATCH", "DELETE"])


def _upserted(current: list[Any], updates: list[dict[str, Any]], ident: str) -> list[Any]:
    out = list(current)
    for update in updates:
        position = next((i for i, e in enumerate(out) if isinstance(e, dict) and e.get(ident) == update[ident]), None)
        if position is None:
            out.append(update)
        else:
            out[position] = update
    return out


def routes(ctx: ManagementContext) -> list[Route]:
    async def whole(request: Request) -> Response:
        return JSONResponse({SECTION: _shown(ctx)})

    return [Route("/ampcode", endpoint(whole), methods=["GET"]),
            *(_scalar_route(ctx, name, str) for name in STRINGS), *(_scalar_route(ctx, name, bool) for name in BOOLS),
            _list_route(ctx, "model-mappings", lambda value, _: _mapping_entries(value), "from",
                        lambda a, b: a.strip() == b),
            _list_route(ctx, "upstream-api-keys", _key_entries, "upstream-api-key", matches)]


__all__ = ["routes"]
