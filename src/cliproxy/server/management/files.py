"""Management endpoints for account files (``/auth-files…``).

Listings join what the file says (email, plan, expiry, a persisted login error) with what the pool
knows (cooling until when and why, request counts). Tokens never leave: the listing has none and a
download masks them. Writes take the account's lock, replace the file atomically, and then ask the
reloader to re-read that one file, the same path a user's edit takes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.auth.accounts import summarise
from cliproxy.auth.store import CredentialStore, FileStore, StoreError, check_name
from cliproxy.auth.stores import credential_store
from cliproxy.errors import ProxyError
from cliproxy.observe.logs import mask
from cliproxy.pool.core import Pool
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.common import BadBody, ManagementContext, endpoint, json_body, mask_proxy_url, ok

MAX_UPLOAD = 1024 * 1024
# Fields of an account file the API may edit (docs/config.md, "Per-account settings").
EDITABLE_FIELDS = frozenset({"label", "prefix", "proxy_url", "priority", "note", "headers", "excluded_models",
                             "disable_cooling", "request_retry", "websockets", "weight"})
SECRET_FIELDS = frozenset({"access_token", "refresh_token", "id_token", "OPENAI_API_KEY"})


def pool_accounts(pool: Pool) -> dict[str, dict[str, Any]]:
    """The pool's plain-data view of each account (never a token), by credential id."""
    return {str(account["id"]): account for account in pool.snapshot().get("accounts", [])}


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp).astimezone().isoformat(
        timespec="seconds")


def _masked_record(record: Mapping[str, Any]) -> dict[str, Any]:
    masked = {key: mask(str(value)) if key in SECRET_FIELDS and value else value for key, value in record.items()}
    if isinstance(masked.get("proxy_url"), str):
        masked["proxy_url"] = mask_proxy_url(masked["proxy_url"])
    return masked


def _file_facts(store: CredentialStore, name: str) -> dict[str, Any]:
    """Size and modification time of an account file; a record in Redis has neither."""
    if not isinstance(store, FileStore):
        return {}
    stat = store.path(name).stat()
    return {"size": stat.st_size, "modtime": _iso(stat.st_mtime)}


class _Files:
    def __init__(self, ctx: ManagementContext) -> None:
        self.ctx = ctx
        self._store: tuple[object, CredentialStore] | None = None

    @property
    def store(self) -> CredentialStore:
        """The config's account store, kept while the config names the same one (a Redis store holds
        a connection pool)."""
        config = self.ctx.config
        wanted = (config.auth_path, config.state)
        if self._store is None or self._store[0] != wanted:
            self._store = (wanted, credential_store(config))
        return self._store[1]

    def _name(self, request: Request, body: Any = None) -> str:
        name = request.query_params.get("name") or (body.get("name") if isinstance(body, dict) else None)
        if not isinstance(name, str) or not name:
            raise BadBody("missing name")
        try:
            check_name(name)
        except StoreError as exc:
            raise BadBody(str(exc)) from None
        return name

    async def _reload(self, names: list[str] | None) -> None:
        await self.ctx.reloader.reload(config=False, accounts=names, reason="management API")

    # ---- reading ---------------------------------------------------------------------------------

    async def listing(self, request: Request) -> Response:
        now = time.time()
        accounts = pool_accounts(self.ctx.pool)
        files = []
        for name, record, facts in await asyncio.to_thread(self._records):
            item = {"name": name, "id": name, "auth_index": name, "type": "codex", "provider": "codex",
                    **summarise(name, record, self.store.location(name), now).as_json(),
                    "disabled": record.get("disabled") is True, **facts}
            item.pop("location", None)
            if (view := accounts.get(name)) is not None:
                item.update(pool_state=view.get("state"), next_retry_after=_iso(view.get("until")),
                            cooling_reason=view.get("reason", ""), rest=view.get("rest", ""),
                            requests=view.get("requests", 0),
                            errors=view.get("errors", 0), windows=view.get("windows", {}),
                            next_refresh=_iso(self.ctx.scheduler.next_due(name)),
                            public_name=view.get("public_name", ""), last_used_at=_iso(view.get("last_used_at")),
                            last_status=view.get("last_status"))
            files.append(item)
        return JSONResponse({"files": files})

    def _records(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """Every record with its file facts; run in a thread (a shared store answers over the network)."""
        store, found = self.store, []
        for name in store.names():
            if (record := store.read(name)) is not None:
                found.append((name, record, _file_facts(store, name)))
        return found

    async def models(self, request: Request) -> Response:
        name = self._name(request)
        snapshot = self.ctx.holder.current
        if not any(c.id == name for c in snapshot.credentials):
            raise BadBody("account not found", 404)
        registry, served = snapshot.registry, []
        for info in registry.models(include_hidden=True):
            if any(c.id == name for c in registry.candidates(registry.resolve(info.id))):
                served.append({"id": info.id, "display_name": info.display_name})
        return JSONResponse({"models": served})

    async def download(self, request: Request) -> Response:
        name = self._name(request)
        record = await asyncio.to_thread(self.store.read, name)
        if record is None:
            raise BadBody("account not found", 404)
        return Response(orjson.dumps(_masked_record(record), option=orjson.OPT_INDENT_2),
                        media_type="application/json",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    # ---- writing ---------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            uploads = await self._multipart(request)
        else:
            body = await request.body()
            uploads = [(self._name(request), body)]
        saved = []
        for name, data in uploads:
            record = _account_record(data)
            async with self.store.alock(name):
                await asyncio.to_thread(self.store.write, name, record)
            saved.append(name)
        await self._reload(saved)
        return ok(files=saved)

    async def _multipart(self, request: Request) -> list[tuple[str, bytes]]:
        form = await request.form(max_files=32)
        uploads = []
        for _field, value in form.multi_items():
            if isinstance(value, UploadFile):
                name = value.filename or ""
                try:
                    check_name(name)
                except StoreError as exc:
                    raise BadBody(str(exc)) from None
                uploads.append((name, await value.read(MAX_UPLOAD + 1)))
        if not uploads:
            raise BadBody("no file in the upload")
        return uploads

    async def delete(self, request: Request) -> Response:
        if request.query_params.get("all", "").lower() in ("true", "1"):
            names = await asyncio.to_thread(self.store.names)
            for name in names:
                await asyncio.to_thread(self.store.remove, name)
            await self._reload(None)
            return ok(deleted=len(names))
        name = self._name(request)
        if not await asyncio.to_thread(self.store.remove, name):
            raise BadBody("account not found", 404)
        await self._reload([name])
        return ok(deleted=1)

    async def _update(self, name: str, fields: Mapping[str, Any]) -> Response:
        async with self.store.alock(name):
            record = await asyncio.to_thread(self.store.read, name)
            if record is None:
                raise BadBody("account not found", 404)
            for key, value in fields.items():
                if key == "proxy_url" and isinstance(value, str) and value and value == mask_proxy_url(
                        str(record.get(key) or "")):
                    continue  # sent back as it was listed: the password it masks stays
                if value is None:
                    record.pop(key, None)
                else:
                    record[key] = value
            await asyncio.to_thread(self.store.write, name, record)
        await self._reload([name])
        return ok()

    async def status(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise BadBody()
        name = self._name(request, body)
        if not isinstance(body.get("disabled"), bool):
            raise BadBody("disabled must be true or false")
        return await self._update(name, {"disabled": body["disabled"]})

    async def reset(self, request: Request) -> Response:
        """End the rest of one account (``name``) or of every account (no name), as ``cliproxy accounts
        reset`` does; answers the accounts that were resting."""
        body = await json_body(request) if await request.body() else {}
        wanted = request.query_params.get("name") or (body.get("name") if isinstance(body, dict) else None)
        ids = [credential.id for credential in self.ctx.pool.credentials()]
        if wanted is not None and wanted not in ids:
            raise BadBody(f"no account {wanted!r} in the pool")
        chosen = ids if wanted is None else [wanted]
        return JSONResponse({"status": "ok", "reset": [cid for cid in chosen if self.ctx.pool.reset(cid)]})

    async def refresh(self, request: Request) -> Response:
        """Renew one account's token now, whatever its schedule says; a failure is the issuer's answer."""
        name = self._name(request)
        credential = next((c for c in self.ctx.pool.credentials() if c.id == name), None)
        if credential is None or credential.kind != "oauth":
            raise BadBody(f"no account {name!r} with a token to renew in the pool", 404)
        try:
            await self.ctx.scheduler.refresher.refresh(credential, force=True)
        except ProxyError as exc:
            raise BadBody(exc.message, 502) from None
        return ok(next_refresh=_iso(self.ctx.scheduler.next_due(name)))

    async def fields(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise BadBody()
        name = self._name(request, body)
        fields = {k: v for k, v in body.items() if k != "name"}
        unknown = sorted(set(fields) - EDITABLE_FIELDS)
        if unknown or not fields:
            raise BadBody("editable fields are: " + ", ".join(sorted(EDITABLE_FIELDS)))
        return await self._update(name, fields)


def _account_record(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_UPLOAD:
        raise BadBody("account file too large")
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise BadBody("not a JSON file") from None
    if not isinstance(record, dict) or record.get("type") != "codex":
        raise BadBody('not a codex account file (it needs "type": "codex")')
    if not record.get("access_token") and not record.get("refresh_token"):
        raise BadBody("the account file has no token")
    return record


def routes(ctx: ManagementContext) -> list[Route]:
    files = _Files(ctx)
    return [
        Route("/auth-files", endpoint(files.listing), methods=["GET"]),
        Route("/auth-files", endpoint(files.upload), methods=["POST"]),
        Route("/auth-files", endpoint(files.delete), methods=["DELETE"]),
        Route("/auth-files/models", endpoint(files.models), methods=["GET"]),
        Route("/auth-files/download", endpoint(files.download), methods=["GET"]),
        Route("/auth-files/status", endpoint(files.status), methods=["PATCH"]),
        Route("/auth-files/fields", endpoint(files.fields), methods=["PATCH"]),
        Route("/auth-files/reset", endpoint(files.reset), methods=["POST"]),
        Route("/auth-files/refresh", endpoint(files.refresh), methods=["POST"]),
    ]


__all__ = ["pool_accounts", "routes"]
