"""Management endpoints that read and write config settings (docs/routes.md, "Management API").

Scalars: ``GET`` → ``{"<key>": value}``; ``PUT``/``PATCH`` with ``{"value": v}``. Lists follow CPA:
``PUT`` a JSON array (or ``{"items": [...]}``), ``PATCH`` one entry, ``DELETE`` one by ``?index=`` or
value. Every write goes to the config file and comes back through the reloader. Secrets are shown
masked and may be named by their masked form in ``PATCH``/``DELETE``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.config import edit as config_edit
from cliproxy.config.schema import Config, to_document
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.common import (
    BadBody,
    ManagementContext,
    edit_config,
    endpoint,
    json_body,
    mask_proxy_url,
    mask_secrets,
    matches,
)
from cliproxy.server.management.moves import check_entries, check_patch

# path → (config keys, type, response key)
SCALARS: dict[str, tuple[tuple[str, ...], type, str]] = {
    "debug": (("debug",), bool, "debug"),
    "logging-to-file": (("logging-to-file",), bool, "logging-to-file"),
    "error-logs-max-files": (("error-logs-max-files",), int, "error-logs-max-files"),
    "logs-max-total-size-mb": (("logs-max-total-size-mb",), int, "logs-max-total-size-mb"),
    "usage-statistics-enabled": (("usage-statistics-enabled",), bool, "usage-statistics-enabled"),
    "request-log": (("request-log",), bool, "request-log"),
    "request-retry": (("request-retry",), int, "request-retry"),
    "max-retry-interval": (("max-retry-interval",), int, "max-retry-interval"),
    "max-retry-credentials": (("max-retry-credentials",), int, "max-retry-credentials"),
    "force-model-prefix": (("force-model-prefix",), bool, "force-model-prefix"),
    "disable-cooling": (("disable-cooling",), bool, "disable-cooling"),
    "metrics-enabled": (("metrics-enabled",), bool, "metrics-enabled"),
    "proxy-url": (("proxy-url",), str, "proxy-url"),
    "routing/strategy": (("routing", "strategy"), str, "strategy"),
    "routing/session-affinity": (("routing", "session-affinity"), bool, "session-affinity"),
}
STRATEGIES = ("round-robin", "fill-first", "headroom")


def _current(config: Config, keys: tuple[str, ...]) -> Any:
    value: Any = config
    for key in keys:
        value = getattr(value, key.replace("-", "_"))
    return value


def _checked(value: Any, kind: type, path: str) -> Any:
    if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise BadBody("value must be a non-negative integer")
    if kind is not int and not isinstance(value, kind):
        raise BadBody(f"value must be a {kind.__name__}")
    if path == "routing/strategy" and value not in STRATEGIES:
        raise BadBody(f"strategy must be one of: {', '.join(STRATEGIES)}")
    return value.strip() if isinstance(value, str) else value


def _shown(name: str, value: Any) -> Any:
    """A setting as listed: a proxy URL with its password masked."""
    return mask_proxy_url(value) if name == "proxy-url" and isinstance(value, str) else value


def _unmasked(name: str, value: Any, current: Any) -> Any:
    """A proxy URL sent back exactly as it was listed keeps its password."""
    return current if name == "proxy-url" and value and value == _shown(name, current) else value


def _scalar_routes(ctx: ManagementContext) -> list[Route]:
    routes = []
    for path, (keys, kind, name) in SCALARS.items():
        def make(keys: tuple[str, ...] = keys, kind: type = kind, name: str = name,
                 path: str = path) -> Callable[[Request], Any]:
            async def handle(request: Request) -> Response:
                if request.method == "GET":
                    return JSONResponse({name: _shown(name, _current(ctx.config, keys))})
                if request.method == "DELETE":
                    return await edit_config(ctx, lambda doc: config_edit.delete_key(doc, keys))
                body = await json_body(request)
                if not isinstance(body, dict) or "value" not in body:
                    raise BadBody()
                value = _unmasked(name, _checked(body["value"], kind, path), _current(ctx.config, keys))
                return await edit_config(ctx, lambda doc: config_edit.set_key(doc, keys, value))
            return endpoint(handle)
        methods = ["GET", "PUT", "PATCH"] + (["DELETE"] if kind is str else [])
        routes.append(Route(f"/{path}", make(), methods=methods))
    return routes


# ---- list helpers -------------------------------------------------------------------------------------

def _items(body: Any) -> list[Any]:
    """A full replacement: a JSON array, or ``{"items": [...]}``."""
    if isinstance(body, dict):
        body = body.get("items")
    if not isinstance(body, list):
        raise BadBody()
    return body


def _list(doc: Any, key: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        value = []
        doc[key] = value
    return value


def _index(raw: Any, size: int) -> int | None:
    try:
        index = int(raw)
    except (TypeError, ValueError):
        return None
    return index if 0 <= index < size else None


# ---- api-keys -----------------------------------------------------------------------------------------

def _strings(items: list[Any]) -> list[str]:
    if not all(isinstance(item, str) for item in items):
        raise BadBody("items must be strings")
    return [item.strip() for item in items if item.strip()]


def _patch_keys(keys: list[Any], body: Any) -> None:
    if not isinstance(body, dict):
        raise BadBody()
    if isinstance(body.get("value"), str) and (index := _index(body.get("index"), len(keys))) is not None:
        keys[index] = body["value"].strip()
        return
    old, new = body.get("old"), body.get("new")
    if isinstance(old, str) and isinstance(new, str):
        for position, key in enumerate(keys):
            if matches(old, str(key)):
                keys[position] = new.strip()
                return
        keys.append(new.strip())
        return
    raise BadBody("missing fields")


def _delete_key(keys: list[Any], request: Request) -> None:
    if (index := _index(request.query_params.get("index"), len(keys))) is not None:
        del keys[index]
        return
    value = request.query_params.get("value", "").strip()
    if not value:
        raise BadBody("missing index or value")
    keys[:] = [key for key in keys if not matches(value, str(key))]


def _api_key_routes(ctx: ManagementContext) -> list[Route]:
    async def handle(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"api-keys": mask_secrets({"api-keys": list(ctx.config.api_keys)})["api-keys"]})
        if request.method == "DELETE":
            return await edit_config(ctx, lambda doc: _delete_key(_list(doc, "api-keys"), request))
        body = await json_body(request)
        if request.method == "PUT":
            keys = _strings(_items(body))
            return await edit_config(ctx, lambda doc: doc.__setitem__("api-keys", keys))
        return await edit_config(ctx, lambda doc: _patch_keys(_list(doc, "api-keys"), body))

    return [Route("/api-keys", endpoint(handle), methods=["GET", "PUT", "PATCH", "DELETE"])]


# ---- codex-api-key ------------------------------------------------------------------------------------

def _entries(items: list[Any], current: list[Any]) -> list[dict[str, Any]]:
    """New entries; an ``api-key`` or a ``proxy-url`` sent as listed (masked) keeps the value it masks."""
    known = [entry for entry in current if isinstance(entry, dict)]
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("api-key"), str):
            raise BadBody("each entry needs an api-key")
        entry = dict(item)
        was = next((k for k in known if matches(entry["api-key"], str(k.get("api-key", "")))), None)
        entry["api-key"] = str(was["api-key"]) if was is not None else entry["api-key"].strip()
        _keep_masked_proxy(entry, was)
        out.append(entry)
    return out


def _keep_masked_proxy(entry: dict[str, Any], was: Mapping[str, Any] | None) -> None:
    """A ``proxy-url`` sent back as the listing showed it (password masked) keeps the current one."""
    current = str(was.get("proxy-url", "")) if was is not None else ""
    if current and entry.get("proxy-url") == mask_proxy_url(current):
        entry["proxy-url"] = current


def _replace_entries(doc: Any, items: list[Any]) -> None:
    current = _list(doc, "codex-api-key")
    check_entries(items, current)
    doc["codex-api-key"] = _entries(items, current)


def _target(entries: list[Any], body: dict[str, Any]) -> int:
    if (index := _index(body.get("index"), len(entries))) is not None:
        return index
    match = body.get("match")
    if isinstance(match, str):
        found = [i for i, e in enumerate(entries) if isinstance(e, dict) and matches(match, str(e.get("api-key")))]
        if len(found) > 1:
            raise BadBody("multiple items match; index is required")
        if found:
            return found[0]
    raise BadBody("item not found", 404)


def _patch_entry(entries: list[Any], body: Any) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("value"), dict):
        raise BadBody()
    index = _target(entries, body)
    update = dict(body["value"])
    check_patch(entries[index], update, index)
    if isinstance(update.get("api-key"), str):
        update["api-key"] = _entries([update], entries)[0]["api-key"]
    if isinstance(entries[index], dict):
        _keep_masked_proxy(update, entries[index])
    for key, value in update.items():
        if value is None:
            entries[index].pop(key, None)
        else:
            entries[index][key] = value


def _delete_entry(entries: list[Any], request: Request) -> None:
    key = request.query_params.get("api-key", "").strip()
    if key:
        found = [i for i, e in enumerate(entries) if isinstance(e, dict) and matches(key, str(e.get("api-key")))]
        if not found:
            raise BadBody("item not found", 404)
        if len(found) > 1:
            raise BadBody("multiple items match; index is required")
        del entries[found[0]]
        return
    if (index := _index(request.query_params.get("index"), len(entries))) is not None:
        del entries[index]
        return
    raise BadBody("missing api-key or index")


def _codex_key_routes(ctx: ManagementContext) -> list[Route]:
    async def handle(request: Request) -> Response:
        if request.method == "GET":
            entries = [to_document(entry) for entry in ctx.config.codex_api_key]
            return JSONResponse({"codex-api-key": mask_secrets({"codex-api-key": entries})["codex-api-key"]})
        if request.method == "DELETE":
            return await edit_config(ctx, lambda doc: _delete_entry(_list(doc, "codex-api-key"), request))
        body = await json_body(request)
        if request.method == "PUT":
            items = _items(body)
            return await edit_config(ctx, lambda doc: _replace_entries(doc, items))
        return await edit_config(ctx, lambda doc: _patch_entry(_list(doc, "codex-api-key"), body))

    return [Route("/codex-api-key", endpoint(handle), methods=["GET", "PUT", "PATCH", "DELETE"])]


# ---- per-channel maps: oauth-model-alias, oauth-excluded-models ---------------------------------------

def _mapping(doc: Any, key: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        value = {}
        doc[key] = value
    return value


def _channel_routes(ctx: ManagementContext, key: str, list_names: tuple[str, ...]) -> list[Route]:
    def patch(doc: Any, body: Any) -> None:
        if not isinstance(body, dict):
            raise BadBody()
        channel = body.get("channel") or body.get("provider")
        values = next((body[name] for name in list_names if name in body), None)
        if not isinstance(channel, str) or not channel.strip() or not isinstance(values, list):
            raise BadBody("missing fields")
        mapping = _mapping(doc, key)
        if values:
            mapping[channel.strip().lower()] = values
        else:
            mapping.pop(channel.strip().lower(), None)

    def delete(doc: Any, request: Request) -> None:
        channel = request.query_params.get("channel") or request.query_params.get("provider")
        if not channel:
            raise BadBody("missing channel")
        if _mapping(doc, key).pop(channel.strip().lower(), None) is None:
            raise BadBody("item not found", 404)

    def replace(doc: Any, body: Any) -> None:
        if isinstance(body, dict) and isinstance(body.get("items"), dict):
            body = body["items"]
        if not isinstance(body, dict) or not all(isinstance(v, list) for v in body.values()):
            raise BadBody("expected an object mapping each channel to a list")
        doc[key] = {str(channel).lower(): values for channel, values in body.items() if values}

    async def handle(request: Request) -> Response:
        if request.method == "GET":
            dumped = to_document(ctx.config).get(key, {})
            return JSONResponse({key: dumped})
        if request.method == "DELETE":
            return await edit_config(ctx, lambda doc: delete(doc, request))
        body = await json_body(request)
        action = replace if request.method == "PUT" else patch
        return await edit_config(ctx, lambda doc: action(doc, body))

    return [Route(f"/{key}", endpoint(handle), methods=["GET", "PUT", "PATCH", "DELETE"])]


def routes(ctx: ManagementContext) -> list[Route]:
    return [*_scalar_routes(ctx), *_api_key_routes(ctx), *_codex_key_routes(ctx),
            *_channel_routes(ctx, "oauth-model-alias", ("aliases", "value", "items")),
            *_channel_routes(ctx, "oauth-excluded-models", ("models", "value", "items"))]


__all__ = ["SCALARS", "routes"]
