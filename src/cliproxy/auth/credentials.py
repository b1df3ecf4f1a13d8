"""Building credentials the request path can use from ChatGPT OAuth account files and ``codex-api-key`` entries.

This module only reads, through ``auth.store`` (which owns writing and locking account files);
refreshing is ``auth.refresh``'s job, choosing among credentials the pool's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cliproxy.auth.claims import read_claims
from cliproxy.auth.record import auth_error_code, expiry_of, last_refresh_of, refresh_interval_of
from cliproxy.auth.store import CredentialStore, FileStore, StoreUnavailable, read_record
from cliproxy.auth.stores import credential_store
from cliproxy.config.schema import CodexApiKey, Config
from cliproxy.credential import Credential, OfferedModel

log = logging.getLogger(__name__)


def _as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _string_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(item) for item in value if isinstance(item, str | int))
    return ()


def credential_from_record(record: dict[str, Any], cred_id: str, base_url: str,
                           path: Path | None = None) -> Credential:
    """Build a Credential from a parsed CPA account file."""
    access = str(record.get("access_token") or "")
    claims = read_claims(str(record.get("id_token") or ""), access)
    headers = record.get("headers")
    prefix = str(record.get("prefix") or "").strip("/")
    return Credential(
        id=cred_id,
        kind="oauth",
        access_token=access,
        base_url=str(record.get("base_url") or base_url).rstrip("/"),
        account_id=str(record.get("account_id") or claims.account_id),
        email=str(record.get("email") or claims.email),
        plan=claims.plan or str(record.get("plan_type") or ""),
        label=str(record.get("label") or ""),
        prefix="" if "/" in prefix else prefix,
        priority=_as_int(record.get("priority")),
        weight=max(1, _as_int(record.get("weight"), 1)),
        proxy_url=str(record.get("proxy_url") or ""),
        headers=tuple((str(k), str(v)) for k, v in headers.items()) if isinstance(headers, dict) else (),
        excluded_models=_string_list(record.get("excluded_models", record.get("excluded-models"))),
        disabled=record.get("disabled") is True,
        disable_cooling=(record.get("disable_cooling") or record.get("disable-cooling")) is True,
        websockets=record.get("websockets") is not False,  # Codex itself uses the socket with a ChatGPT login
        auth_error=auth_error_code(record),
        path=path,
        refresh_token=str(record.get("refresh_token") or ""),
        expires_at=expiry_of(record),
        last_refresh_at=last_refresh_of(record),
        refresh_interval=refresh_interval_of(record),
    )


def read_account_file(path: Path) -> dict[str, Any] | None:
    """A codex account record, or None for empty, unreadable, non-JSON or other-provider files."""
    return read_record(path)


def load_account_files(auth_dir: Path, base_url: str) -> list[Credential]:
    """Top-level ``*.json`` files of type ``codex``, sorted by id; other files are not accounts."""
    return load_accounts(FileStore(auth_dir), base_url)


def load_accounts(store: CredentialStore, base_url: str) -> list[Credential]:
    """Every codex record of ``store``, sorted by id. A shared store that is away gives none for now
    (logged): the server starts, and its reloader reads them when the store answers again."""
    credentials = []
    try:
        for name in store.names():
            record = store.read(name)
            if record is not None:
                path = store.path(name) if isinstance(store, FileStore) else None
                credentials.append(credential_from_record(record, name, base_url, path))
    except StoreUnavailable as exc:
        log.warning("accounts: %s; starting without them, they are read when it answers", exc)
        return []
    return credentials


def credential_from_api_key(entry: CodexApiKey, index: int) -> Credential:
    return Credential(
        id=f"api-key:{index}",
        kind="api-key",
        access_token=entry.api_key,
        base_url=entry.base_url.rstrip("/"),
        prefix=entry.prefix.strip("/"),
        priority=entry.priority,
        proxy_url=entry.proxy_url,
        headers=tuple(entry.headers.items()),
        excluded_models=entry.excluded_models,
        models=tuple(OfferedModel(model.name, model.alias) for model in entry.models),
        disable_cooling=entry.disable_cooling,
        websockets=entry.websockets,
    )


def load_credentials(config: Config) -> list[Credential]:
    """Every credential the config points at: account files first, then API-key entries."""
    credentials = load_accounts(credential_store(config), config.codex_base_url)
    credentials.extend(
        credential_from_api_key(entry, index) for index, entry in enumerate(config.usable_api_keys())
    )
    return credentials
