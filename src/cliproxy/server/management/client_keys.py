"""``/client-keys``: create, list, change, delete client keys and reset what they used.

A created key is shown once, in the answer to its creation: the config file keeps only its
SHA-256 (``key-sha256``). Every change goes through the config file (comments kept) and the
reloader, so it is validated like a hand edit and applies at once, with no restart. A listing
never shows a key, hashed or not; it shows each key's limits and what it used of them.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.keys.model import digest, new_key, spec_of
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.common import BadBody, ManagementContext, edit_config, endpoint, json_body
from cliproxy.state.base import StateUnavailable

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


async def _create(ctx: ManagementContext, body: Any) -> Response:
    """A new key with a fresh secret: answered once, stored as its SHA-256."""
    fields = _fields(body)
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


async def _update(ctx: ManagementContext, name: str, body: Any) -> Response:
    """Changed fields; ``rotate`` replaces the key, and the new one is answered once."""
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


def _known(ctx: ManagementContext, name: str) -> str:
    """The name as the running config spells it (counts are kept under it); 404 when there is none."""
    found = next((entry.name for entry in ctx.config.client_keys if entry.name.lower() == name.lower()), None)
    if found is None:
        raise BadBody(f"no client key is named {name!r}", 404)
    return found


async def _delete(ctx: ManagementContext, name: str) -> Response:
    """The key leaves the file, and its counts go with it (on a Redis that is away, they are left to
    expire with their windows)."""
    known = _known(ctx, name)
    answer = await edit_config(ctx, lambda doc: _entries(doc).pop(_position(_entries(doc), name)))
    if answer.status_code == 200 and ctx.counters is not None:
        with contextlib.suppress(StateUnavailable):
            await ctx.counters.reset(known)
    return answer


async def _reset(ctx: ManagementContext, name: str) -> Response:
    """503 when the counts are shared on a Redis that cannot be reached now: nothing was reset there."""
    known = _known(ctx, name)
    if ctx.counters is not None:
        try:
            await ctx.counters.reset(known)
        except StateUnavailable as exc:
            raise BadBody(str(exc), 503) from None
    return JSONResponse({"status": "ok"})


def routes(ctx: ManagementContext) -> list[Route]:
    async def collection(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({SECTION: await _listing(ctx)})
        return await _create(ctx, await json_body(request))

    async def item(request: Request) -> Response:
        name = request.path_params["name"]
        if request.method == "DELETE":
            return await _delete(ctx, name)
        return await _update(ctx, name, await json_body(request))

    async def reset(request: Request) -> Response:
        return await _reset(ctx, request.path_params["name"])

    return [Route("/client-keys", endpoint(collection), methods=["GET", "POST"]),
            Route("/client-keys/{name}", endpoint(item), methods=["PATCH", "DELETE"]),
            Route("/client-keys/{name}/reset", endpoint(reset), methods=["POST"])]


__all__ = ["routes"]
