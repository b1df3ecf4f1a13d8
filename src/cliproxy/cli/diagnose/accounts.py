"""The accounts: present at all, logged in, tokens that can still be renewed, rests and quota windows.

Accounts are named as errors name them (``account #2``), never by e-mail.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from cliproxy.cli.diagnose.findings import Finding
from cliproxy.credential import Credential

FULL = 100.0


def _when(at: float, now: float) -> str:
    minutes = max(0, round((at - now) / 60))
    return f"in {minutes} min" if minutes < 120 else f"in {minutes // 60} h"


def _expired(credential: Credential, now: float) -> bool:
    """An access token past its expiry with no refresh token to renew it."""
    return bool(credential.expires_at and credential.expires_at < now and not credential.refresh_token)


def _account(row: dict[str, Any], credential: Credential | None, now: float) -> Finding | None:
    name = str(row.get("public_name") or "an account")
    state = row.get("state")
    if state == "needs-login" or (credential is not None and _expired(credential, now)):
        why = row.get("reason") or "its login expired and cannot be renewed"
        return Finding("accounts", "fail", f"{name} needs you: {why}", "run `cliproxy login` for it again")
    if state in ("quota", "cooling"):
        until = f" until {_when(float(row['until']), now)}" if row.get("until") else ""
        return Finding("accounts", "warn", f"{name} is resting{until}: {row.get('reason') or state}",
                       "it comes back by itself; `cliproxy accounts reset` ends the rest now")
    spent = [kind for kind, w in (row.get("windows") or {}).items() if float(w.get("used_percent") or 0) >= FULL]
    if spent:
        return Finding("accounts", "warn", f"{name} has used its whole {' and '.join(spent)} quota window")
    return None


def check_accounts(snapshot: dict[str, Any], source: str, credentials: Iterable[Credential],
                   now: float | None = None) -> list[Finding]:
    """One line per account that needs a look, and a summary line."""
    now = time.time() if now is None else now
    rows = list(snapshot.get("accounts") or [])
    if not rows:
        return [Finding("accounts", "fail", "no account yet", "run `cliproxy login` (or `cliproxy import-codex`)")]
    by_id = {credential.id: credential for credential in credentials}
    problems = [f for row in rows if (f := _account(row, by_id.get(str(row.get("id"))), now)) is not None]
    ready = sum(1 for row in rows if row.get("state") == "available")
    summary = Finding("accounts", "ok" if ready else "fail", f"{ready} of {len(rows)} ready ({source})",
                      "" if ready else "no account can serve a request now")
    return [summary, *problems]


__all__ = ["check_accounts"]
