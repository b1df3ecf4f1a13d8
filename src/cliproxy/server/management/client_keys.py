"""``/client-keys``: create, list, change, delete client keys and reset what they used.

A created key is shown once, in the answer to its creation: the config file keeps only its
SHA-256 (``key-sha256``). Every change goes through the config file (comments kept) and the
reloader, so it is validated like a hand edit and applies at once, with no restart. A listing
never shows a key, hashed or not; it shows each key's limits and what it used of them.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.keys.model import digest, new_key, spec_of
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.common import BadBody, ManagementContext, edit_config, endpoint, json_body

SECTION = "client-keys"
# What a client may set on a key; ``key`` and ``key-sha256`` are the server's to write.
FIELDS = frozenset({"name", "expires", "disabled", "models", "max-effort", "limits", "show-pool-quota"})


def _entries(doc: Any) -> list[Any]:
    entries = doc.get(SECTION)
    if not isinstance(entries, list):
        entries = []
        doc[SECTION] = entries
    return entries


def _position(entries: list[Any], name: str) -> int:
    for position, entry in enumerate(entries):
        if isinstance(entry, dict) and str(entry.get("name", "")).strip().lower() == name.lower():
            return position
    raise BadBody(f"no client key is named {name!r}", 404)


def _fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadBody("send a JSON object")
    if unknown := sorted(set(body) - FIELDS - {"rotate"}):
        raise BadBody(f"unknown field(s): {', '.join(unknown)}; a key may set: {', '.join(sorted(FIELDS))}")
    return {name: value for name, value in body.items() if name in FIELDS}


async def _listing(ctx: ManagementContext) -> list[dict[str, Any]]:
    """Each key without its key: its settings and, per limit, what it used and when that resets."""
    now, listed = time.time(), []
    for entry in ctx.config.client_keys:
        spec = spec_of(entry)
        usage = await ctx.counters.usage(spec, now) if ctx.counters is not None else []
        listed.append({"name": entry.name, "stored": "sha256" if entry.key_sha256 else "plain",
                       "expires": entry.expires or None, "disabled": entry.disabled, "models": list(entry.models),
                       "max-effort": entry.max_effort or None, "show-pool-quota": entry.show_pool_quota,
                       "limits": [{"limit": u.limit.describe(), "used": u.used, "remaining": u.remaining,
                                   "resets-at": u.resets_at} for u in usage]})
    return listed


def routes(ctx: ManagementContext) -> list[Route]:
    async def collection(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({SECTION: await _listing(ctx)})
        fields = _fields(await json_body(request))
        name = str(fields.get("name") or "").strip()
        if not name:
            raise BadBody("a new key needs a `name`")
        key = new_key()

        def add(doc: Any) -> None:
            entries = _entries(doc)
            if any(isinstance(e, dict) and str(e.get("name", "")).strip().lower() == name.lower() for e in entries):
                raise BadBody(f"a client key named {name!r} exists already", 409)
            entries.append({**fields, "name": name, "key-sha256": digest(key)})

        answer = await edit_config(ctx, add)
        if answer.status_code != 200:
            return answer
        return JSONResponse({"status": "ok", "name": name, "key": key,
                             "note": "the key is shown this once; only its SHA-256 is kept"}, status_code=201)

    async def item(request: Request) -> Response:
        name = request.path_params["name"]
        if request.method == "DELETE":
            answer = await edit_config(ctx, lambda doc: _entries(doc).pop(_position(_entries(doc), name)))
            if answer.status_code == 200 and ctx.counters is not None:
                await ctx.counters.reset(name)
            return answer
        body = await json_body(request)
        fields, key = _fields(body), new_key() if isinstance(body, dict) and body.get("rotate") is True else None

        def change(doc: Any) -> None:
            entry = _entries(doc)[_position(_entries(doc), name)]
            entry.update(fields)
            if key is not None:
                entry.pop("key", None)
                entry["key-sha256"] = digest(key)

        answer = await edit_config(ctx, change)
        if answer.status_code != 200 or key is None:
            return answer
        return JSONResponse({"status": "ok", "name": fields.get("name", name), "key": key})

    async def reset(request: Request) -> Response:
        name = request.path_params["name"]
        if not any(entry.name.lower() == name.lower() for entry in ctx.config.client_keys):
            raise BadBody(f"no client key is named {name!r}", 404)
        if ctx.counters is not None:
            await ctx.counters.reset(next(e.name for e in ctx.config.client_keys if e.name.lower() == name.lower()))
        return JSONResponse({"status": "ok"})

    return [Route("/client-keys", endpoint(collection), methods=["GET", "POST"]),
            Route("/client-keys/{name}", endpoint(item), methods=["PATCH", "DELETE"]),
            Route("/client-keys/{name}/reset", endpoint(reset), methods=["POST"])]


__all__ = ["routes"]
