"""The CPA account record (auth.md §5.1): its fields, times, file name, and how login, refresh,
failure and import change it.

Pure functions on plain dicts: the record *is* the parsed file, so keys we do not know (a user's
``priority``, ``proxy_url``, ``headers``...) survive every rewrite. Storage is ``store.py``'s job.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from cliproxy.auth.claims import read_claims
from cliproxy.auth.errors import AccountInfoError, RefreshError
from cliproxy.auth.oauth import TokenBundle
from cliproxy.config.coerce import parse_duration

# Keys a re-login replaces rather than carries over (auth.md §1.9, later upstream's list).
TOKEN_KEYS = frozenset({
    "access_token", "refresh_token", "id_token", "session_id", "expired", "last_refresh", "expires_in",
    "timestamp", "token_type", "user_code", "verification_uri", "verification_uri_complete",
    "auth_error",
})
EXPIRY_KEYS = ("expired", "expire", "expires_at", "expiresAt", "expiry", "expires")
LAST_REFRESH_KEYS = ("last_refresh", "lastRefresh", "last_refreshed_at", "lastRefreshedAt")
INTERVAL_KEYS = ("refresh_interval_seconds", "refreshIntervalSeconds", "refresh_interval", "refreshInterval")
API_KEY_FIELD = "OPENAI_API_KEY"


# ---- times -------------------------------------------------------------------------------------

def parse_time(value: Any) -> float | None:
    """Unix seconds from any time form CPA reads: RFC 3339, ``YYYY-MM-DD HH:MM[:SS]`` (UTC),
    or an integer Unix time in seconds or (above 10^12) milliseconds, as a number or a string."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value / 1000.0 if value > 1e12 else float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return parse_time(float(text))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_time(timestamp: float) -> str:
    """RFC 3339 with the local UTC offset and second precision, as CPA writes it."""
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def _first_time(record: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for source in (record, record.get("token")):
        if isinstance(source, dict):
            for key in keys:
                if (parsed := parse_time(source.get(key))) is not None:
                    return parsed
    return None


def expiry_of(record: dict[str, Any]) -> float | None:
    """Access-token expiry: the file's ``expired`` (or an alias), else the access token's ``exp``."""
    found = _first_time(record, EXPIRY_KEYS)
    if found is not None:
        return found
    return read_claims("", str(record.get("access_token") or "")).expires_at


def last_refresh_of(record: dict[str, Any]) -> float | None:
    return _first_time(record, LAST_REFRESH_KEYS)


def refresh_interval_of(record: dict[str, Any]) -> float | None:
    """The file's own refresh interval in seconds; none (or zero) leaves the default schedule."""
    for key in INTERVAL_KEYS:
        if seconds := parse_duration(record.get(key)):
            return seconds
    return None


# ---- file name ---------------------------------------------------------------------------------

def normalise_plan(plan: str) -> str:
    """``Pro Lite`` → ``pro-lite``: split on non-alphanumerics, lowercase, join with ``-``."""
    return "-".join(part.lower() for part in re.split(r"[^A-Za-z0-9]+", plan) if part)


def account_hash(account_id: str) -> str:
    return hashlib.sha256(account_id.encode()).hexdigest()[:8] if account_id else ""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._+-]", "_", text.strip()).lstrip(".") or "account"


def account_filename(email: str, plan: str, account_id: str) -> str:
    """``codex-<hash8>-<email>[-<plan>].json``: the hash whenever the account id is known, so two
    workspaces of one email never overwrite each other (later upstream's rule, auth.md §1.9)."""
    parts = ["codex"]
    if hashed := account_hash(account_id):
        parts.append(hashed)
    parts.append(_safe(email))
    if normalised := normalise_plan(plan):
        parts.append(normalised)
    return "-".join(parts) + ".json"


# ---- building and changing records -------------------------------------------------------------

def record_from_tokens(bundle: TokenBundle, now: float) -> dict[str, Any]:
    """A fresh account record after a login; refuses tokens without an email (auth.md §1.9)."""
    claims = read_claims(bundle.id_token, bundle.access_token)
    if not claims.email:
        raise AccountInfoError()
    record: dict[str, Any] = {
        "type": "codex",
        "email": claims.email,
        "account_id": claims.account_id,
        "id_token": bundle.id_token,
        "access_token": bundle.access_token,
        "refresh_token": bundle.refresh_token,
        "last_refresh": format_time(now),
        "disabled": False,
    }
    expires = now + bundle.expires_in if bundle.expires_in is not None else claims.expires_at
    if expires is not None:
        record["expired"] = format_time(expires)
    return record


def merge_relogin(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A re-login keeps the user's own keys (priority, headers, disabled...) and replaces the tokens;
    it also clears any ``auth_error`` marker (auth.md §1.9 Decision, §6.5)."""
    merged = {key: value for key, value in (old or {}).items() if key not in TOKEN_KEYS}
    merged.update(new)
    if old and "disabled" in old:
        merged["disabled"] = old["disabled"]
    return merged


def apply_refresh(record: dict[str, Any], bundle: TokenBundle, now: float) -> dict[str, Any]:
    """The record after a successful refresh. Never overwrites a field with an empty value: a missing
    id_token keeps the old one and its email; a missing ``expires_in`` falls back to the new access
    token's ``exp``, else keeps the old expiry (auth.md §6.4 Decision)."""
    updated = {key: value for key, value in record.items() if key != "auth_error"}
    for key in ("access_token", "refresh_token", "id_token"):
        if value := getattr(bundle, key):
            updated[key] = value
    claims = read_claims(bundle.id_token, bundle.access_token)
    if bundle.id_token and claims.email:
        updated["email"] = claims.email
    if claims.account_id:
        updated["account_id"] = claims.account_id
    expires = now + bundle.expires_in if bundle.expires_in is not None else claims.expires_at
    if expires is not None:
        updated["expired"] = format_time(expires)
    updated["last_refresh"] = format_time(now)
    updated["type"] = "codex"
    return updated


def token_fingerprint(token: str) -> str:
    """A short digest naming *which* refresh token failed, without storing the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def mark_auth_error(record: dict[str, Any], error: RefreshError, now: float) -> dict[str, Any]:
    """Persist a permanent refresh failure so it survives a restart (auth.md §6.5 Decision).

    The marker names the refresh token it applies to by fingerprint, so replacing the tokens in
    place (or a re-login, which drops the marker) makes the account usable again."""
    marked = dict(record)
    marked["auth_error"] = {
        "code": error.code or "unauthorized",
        "reason": error.reason,
        "message": error.explanation,
        "status": error.status,
        "at": format_time(now),
        "refresh_token_sha256": token_fingerprint(str(record.get("refresh_token") or "")),
    }
    return marked


def auth_error_code(record: dict[str, Any]) -> str:
    """The ``auth_error`` that applies to this record's tokens, or ``""``.

    A string marker always applies. A dict marker applies unless it names a refresh token other than
    the current one (the user replaced the tokens since)."""
    marker = record.get("auth_error")
    if isinstance(marker, str):
        return marker
    if not isinstance(marker, dict):
        return ""
    fingerprint = marker.get("refresh_token_sha256")
    current = token_fingerprint(str(record.get("refresh_token") or ""))
    if isinstance(fingerprint, str) and fingerprint != current:
        return ""
    return str(marker.get("code") or "invalid")


def auth_error_message(record: dict[str, Any]) -> str:
    if not auth_error_code(record):
        return ""
    marker = record.get("auth_error")
    if isinstance(marker, dict) and isinstance(marker.get("message"), str):
        return str(marker["message"])
    return str(marker)


# ---- Codex CLI auth.json import (auth.md §5.2) -------------------------------------------------

class ImportRefused(Exception):
    """The Codex auth file holds no ChatGPT login we can use; the message says why."""


def record_from_codex_auth(data: Any, now: float) -> dict[str, Any]:
    """A CPA record from Codex CLI's ``auth.json``; API-key logins are refused."""
    if not isinstance(data, dict):
        raise ImportRefused("the file is not a Codex auth.json (expected a JSON object)")
    mode = data.get("auth_mode")
    tokens = data.get("tokens")
    if mode == "apikey" or (mode is None and data.get(API_KEY_FIELD)):
        raise ImportRefused("this Codex login uses an API key, not a ChatGPT account; nothing to import "
                            "(use a codex-api-key entry in config.yaml instead)")
    if mode not in (None, "chatgpt") or not isinstance(tokens, dict):
        raise ImportRefused(f"this Codex login (auth_mode {mode!r}) holds no ChatGPT tokens to import")
    bundle = TokenBundle(access_token=str(tokens.get("access_token") or ""),
                         refresh_token=str(tokens.get("refresh_token") or ""),
                         id_token=str(tokens.get("id_token") or ""))
    if not bundle.access_token or not bundle.refresh_token:
        raise ImportRefused("the Codex auth.json has no access or refresh token")
    record = record_from_tokens(bundle, now)
    if account_id := tokens.get("account_id"):
        record["account_id"] = str(account_id)
    record.setdefault("expired", format_time(now))  # no exp known: refresh right away
    if (refreshed := parse_time(data.get("last_refresh"))) is not None:
        record["last_refresh"] = format_time(refreshed)
    return record
