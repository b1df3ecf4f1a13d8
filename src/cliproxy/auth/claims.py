"""JWT claims of the id_token and access_token, decoded without signature verification.

The proxy is not the token's audience and has no reason to verify OpenAI's signature: it only
reads the account id, plan, email and expiry that the issuer put there. Decoding is
tolerant: a mistyped claim loses that field, never the whole token.

Reading an unverified token is two base64url segments parsed as JSON, done here rather than by
PyJWT: importing PyJWT loads the ``cryptography`` package whenever it is installed (it is, for
encrypted account records), which cost every server 31 ms at start and about 10 MiB of memory
for a decode that checks no signature. The tests hold this decoder to PyJWT's answers.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from cliproxy.config.coerce import as_str

AUTH_CLAIM = "https://api.openai.com/auth"
PROFILE_CLAIM = "https://api.openai.com/profile"


def _segment(text: str) -> Any:
    """One base64url JSON segment of a JWT (padding optional, as JWTs omit it)."""
    return orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def decode_jwt(token: str) -> dict[str, Any]:
    """The payload of a JWT, or ``{}`` when it is not a three-part JWT with a JSON object header and
    body and a base64url signature."""
    parts = token.split(".") if token else []
    if len(parts) != 3 or not all(parts):
        return {}
    try:
        header, payload = _segment(parts[0]), _segment(parts[1])
        base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (ValueError, binascii.Error):  # orjson's JSONDecodeError and non-ASCII text are ValueErrors
        return {}
    return payload if isinstance(header, dict) and isinstance(payload, dict) else {}


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Claims:
    """What the proxy reads from an account's tokens."""

    email: str = ""
    account_id: str = ""
    plan: str = ""
    user_id: str = ""
    expires_at: float | None = None  # access-token expiry, Unix seconds


def read_claims(id_token: str, access_token: str = "") -> Claims:
    """Email from the id_token (profile claim as fallback); account and plan from the id_token's
    auth claim, falling back to the access token's; expiry from the access token's ``exp``."""
    ident = decode_jwt(id_token)
    access = decode_jwt(access_token)
    id_auth, access_auth = _obj(ident.get(AUTH_CLAIM)), _obj(access.get(AUTH_CLAIM))
    email = (
        as_str(ident.get("email"))
        or as_str(_obj(ident.get(PROFILE_CLAIM)).get("email"))
        or as_str(_obj(access.get(PROFILE_CLAIM)).get("email"))
    )
    account_id = as_str(id_auth.get("chatgpt_account_id")) or as_str(access_auth.get("chatgpt_account_id"))
    plan = as_str(id_auth.get("chatgpt_plan_type")) or as_str(access_auth.get("chatgpt_plan_type"))
    user_id = as_str(id_auth.get("chatgpt_user_id")) or as_str(id_auth.get("user_id"))
    exp = access.get("exp")
    expires_at = float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
    return Claims(email=email, account_id=account_id, plan=plan.lower(), user_id=user_id,
                  expires_at=expires_at)
