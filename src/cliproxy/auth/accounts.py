"""What ``cliproxy accounts`` shows: one summary per account file, and finding an account by name.

Pure functions over store records, so the listing, its JSON form and the management API can share
them. Identifiers and keys are shown masked; tokens never leave the record.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cliproxy.auth.claims import read_claims
from cliproxy.auth.record import (
    API_KEY_FIELD,
    auth_error_code,
    auth_error_message,
    expiry_of,
    last_refresh_of,
)
from cliproxy.auth.store import CredentialStore
from cliproxy.observe.logs import mask


@dataclass(frozen=True)
class AccountSummary:
    name: str  # the file name: what `accounts disable NAME` etc. accept (as do email and label)
    email: str
    label: str
    plan: str
    status: str  # active | disabled | needs login | expired | no refresh token
    expires_at: float | None
    last_refresh_at: float | None
    last_error: str
    error_code: str  # e.g. refresh_token_reused, when the account needs a new login
    account_id: str  # masked
    api_key: str  # masked OPENAI_API_KEY from --exchange-api-key, or ""
    location: str

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["expires_at"] = _iso(self.expires_at)
        data["last_refresh_at"] = _iso(self.last_refresh_at)
        return data


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp).astimezone().isoformat(
        timespec="seconds")


def _status(record: dict[str, Any], expires_at: float | None, now: float) -> str:
    if auth_error_code(record):
        return "needs login"
    if record.get("disabled") is True:
        return "disabled"
    if not record.get("refresh_token"):
        return "no refresh token"
    if expires_at is not None and expires_at <= now:
        return "expired"  # the server refreshes it before use
    return "active"


def summarise(name: str, record: dict[str, Any], location: str, now: float) -> AccountSummary:
    claims = read_claims(str(record.get("id_token") or ""), str(record.get("access_token") or ""))
    expires_at = expiry_of(record)
    return AccountSummary(
        name=name,
        email=str(record.get("email") or claims.email),
        label=str(record.get("label") or ""),
        plan=claims.plan or str(record.get("plan_type") or ""),
        status=_status(record, expires_at, now),
        expires_at=expires_at,
        last_refresh_at=last_refresh_of(record),
        last_error=auth_error_message(record),
        error_code=auth_error_code(record),
        account_id=mask(str(record.get("account_id") or claims.account_id)),
        api_key=mask(str(record.get(API_KEY_FIELD) or "")),
        location=location,
    )


def list_accounts(store: CredentialStore, now: float | None = None) -> list[AccountSummary]:
    moment = time.time() if now is None else now
    summaries = []
    for name in store.names():
        record = store.read(name)
        if record is not None:
            summaries.append(summarise(name, record, store.location(name), moment))
    return summaries


class AccountNotFound(Exception):
    """No account, or more than one, answers to the name; the message lists what exists."""


def resolve(store: CredentialStore, query: str) -> str:
    """The store name of the account called ``query``: its file name (with or without ``.json``),
    its email or its label; a unique prefix of any of these also works."""
    accounts = list_accounts(store)
    wanted = query.strip().lower()

    def keys(summary: AccountSummary) -> list[str]:
        return [k.lower() for k in (summary.name, summary.name.removesuffix(".json"), summary.email,
                                    summary.label) if k]

    exact = [s for s in accounts if wanted in keys(s)]
    matches = exact or [s for s in accounts if any(k.startswith(wanted) for k in keys(s))]
    if len(matches) == 1:
        return matches[0].name
    known = ", ".join(s.email or s.name for s in accounts) or "none (run `cliproxy login`)"
    if not matches:
        raise AccountNotFound(f"no account matches {query!r}. Accounts: {known}")
    names = ", ".join(s.name for s in matches)
    raise AccountNotFound(f"{query!r} matches several accounts ({names}); use the file name")


def relative(timestamp: float | None, now: float) -> str:
    """``in 9d 23h`` / ``2h 5m ago`` / ``-``: two units, enough to see how far away it is."""
    if timestamp is None:
        return "-"
    delta = timestamp - now
    seconds = int(abs(delta))
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days:
        amount = f"{days}d {hours}h" if hours else f"{days}d"
    elif hours:
        amount = f"{hours}h {minutes}m" if minutes else f"{hours}h"
    elif minutes:
        amount = f"{minutes}m"
    else:
        return "now" if abs(delta) < 60 and delta >= 0 else "just now"
    return f"in {amount}" if delta >= 0 else f"{amount} ago"


_SHORT_ERRORS = {
    "refresh_token_reused": "token reused",
    "refresh_token_expired": "token expired",
    "refresh_token_invalidated": "token revoked",
    "invalid_grant": "token rejected",
}


def short_error(summary: AccountSummary) -> str:
    """The last error in a few words, for a table cell; ``last_error`` has the full sentence."""
    return _SHORT_ERRORS.get(summary.error_code, summary.error_code) if summary.error_code else ""
