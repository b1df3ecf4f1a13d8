"""HTTP to the OAuth issuer: authorize URL, code exchange, refresh, API-key exchange, revoke.

Every endpoint derives from one issuer base URL (config ``oauth-issuer``), so a single setting points
login, device flow, refresh, exchange and revoke at a fake issuer in tests. Request shapes follow CPA:
form bodies, sorted authorize parameters with ``+`` for spaces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from cliproxy.auth.errors import AuthenticationError, RefreshError, redact
from cliproxy.config.coerce import as_str

log = logging.getLogger(__name__)

CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
SCOPE = "openid email profile offline_access"
REFRESH_SCOPE = "openid profile email"
DEFAULT_CALLBACK_PORT = 1455
FALLBACK_CALLBACK_PORT = 1457  # Codex CLI's fallback; a Codex comment says it is on the redirect allow-list

# 30 s per call, 10 s to connect (CPA once had no timeout at all); revoke is best effort and gets 10 s.
REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
REVOKE_TIMEOUT = httpx.Timeout(10.0)

_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
PERMANENT_REFRESH_CODES = frozenset(
    {"refresh_token_expired", "refresh_token_reused", "refresh_token_invalidated"}
)


@dataclass(frozen=True)
class Endpoints:
    """The issuer's URLs, all derived from its base URL."""

    issuer: str

    @property
    def authorize(self) -> str:
        return f"{self.issuer}/oauth/authorize"

    @property
    def token(self) -> str:
        return f"{self.issuer}/oauth/token"

    @property
    def revoke(self) -> str:
        return f"{self.issuer}/oauth/revoke"

    @property
    def device_usercode(self) -> str:
        return f"{self.issuer}/api/accounts/deviceauth/usercode"

    @property
    def device_token(self) -> str:
        return f"{self.issuer}/api/accounts/deviceauth/token"

    @property
    def device_verification(self) -> str:
        return f"{self.issuer}/codex/device"

    @property
    def device_redirect(self) -> str:
        return f"{self.issuer}/deviceauth/callback"


def redirect_uri_for(port: int = DEFAULT_CALLBACK_PORT) -> str:
    return f"http://localhost:{port}/auth/callback"


def authorize_url(endpoints: Endpoints, *, challenge: str, state: str, redirect_uri: str) -> str:
    """CPA's authorize URL: its parameters, sorted, spaces as ``+``; Codex CLI's order differs."""
    params = {
        "client_id": CLIENT_ID,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "codex_cli_simplified_flow": "true",
        "id_token_add_organizations": "true",
        "prompt": "login",
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": SCOPE,
        "state": state,
    }
    return f"{endpoints.authorize}?{urlencode(sorted(params.items()))}"


@dataclass(frozen=True)
class TokenBundle:
    """What the token endpoint returned. Empty strings mean "not in the response"."""

    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    id_token: str = field(default="", repr=False)
    expires_in: int | None = None


def _parse_bundle(body: bytes) -> TokenBundle:
    """Strict where CPA is (JSON object, integer ``expires_in``), tolerant of missing tokens."""
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("response is not a JSON object")
    expires_in = data.get("expires_in")
    if expires_in is not None and (not isinstance(expires_in, int) or isinstance(expires_in, bool)):
        raise ValueError("expires_in is not an integer")
    return TokenBundle(
        access_token=as_str(data.get("access_token")),
        refresh_token=as_str(data.get("refresh_token")),
        id_token=as_str(data.get("id_token")),
        expires_in=expires_in,
    )


def _body_text(response: httpx.Response) -> str:
    text = response.text.strip()
    return redact(text) if text else "empty response body"


async def exchange_code(http: httpx.AsyncClient, endpoints: Endpoints, *, code: str, verifier: str,
                        redirect_uri: str) -> TokenBundle:
    """Authorization code → tokens. Any failure is ``code_exchange_failed``."""
    if not verifier:
        raise AuthenticationError("code_exchange_failed", "PKCE codes are required for token exchange")
    form = {"client_id": CLIENT_ID, "code": code, "code_verifier": verifier,
            "grant_type": "authorization_code", "redirect_uri": redirect_uri}
    try:
        response = await http.post(endpoints.token, data=form, headers=_FORM_HEADERS,
                                   timeout=REQUEST_TIMEOUT)
    except httpx.HTTPError as exc:
        raise AuthenticationError("code_exchange_failed",
                                  f"token exchange request failed: {type(exc).__name__}") from None
    if not response.is_success:
        raise AuthenticationError(
            "code_exchange_failed",
            f"token exchange failed with status {response.status_code}: {_body_text(response)}")
    try:
        bundle = _parse_bundle(response.content)
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise AuthenticationError("code_exchange_failed", f"failed to parse token response: {exc}") from None
    missing = [name for name in ("access_token", "refresh_token", "id_token") if not getattr(bundle, name)]
    if missing:
        raise AuthenticationError("code_exchange_failed",
                                  "token response is missing " + ", ".join(missing))
    return bundle


def error_code(body: Any) -> str:
    """The OAuth error code of a JSON error body: ``error.code``, ``error`` or ``code``."""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        return as_str(error.get("code"))
    if isinstance(error, str):
        return error
    return as_str(body.get("code"))


MAX_ERROR_TEXT = 300


def classify_refresh_failure(status: int, body: bytes) -> RefreshError:
    """Permanent: 401, a known refresh-token code, or ``invalid_grant`` on a 4xx (CPA
    retried ``invalid_grant`` forever). Everything else — 5xx, 429, other 4xx — is transient."""
    try:
        code = error_code(orjson.loads(body)) if body.strip() else ""
    except orjson.JSONDecodeError:
        code = ""
    # The issuer's words, cut: this message reaches API clients, and an error page can be long.
    text = body[:MAX_ERROR_TEXT].decode("utf-8", "replace").strip() or "empty response body"
    message = f"token refresh failed with status {status}: {text}"
    permanent = (status == 401 or code in PERMANENT_REFRESH_CODES
                 or (code == "invalid_grant" and 400 <= status < 500))
    retryable = status >= 500 or status == 429
    return RefreshError(message, permanent=permanent, status=status, code=code, retryable=retryable)


async def refresh_tokens(http: httpx.AsyncClient, endpoints: Endpoints, refresh_token: str,
                         *, timeout: httpx.Timeout = REQUEST_TIMEOUT) -> TokenBundle:
    """One refresh call; raises a classified :class:`RefreshError`."""
    if not refresh_token:
        raise RefreshError("refresh token is required", permanent=True)
    form = {"client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_token": refresh_token,
            "scope": REFRESH_SCOPE}
    try:
        response = await http.post(endpoints.token, data=form, headers=_FORM_HEADERS, timeout=timeout)
    except httpx.TimeoutException:
        raise RefreshError("token refresh timed out", permanent=False) from None
    except httpx.HTTPError as exc:
        raise RefreshError(f"token refresh request failed: {type(exc).__name__}", permanent=False,
                           retryable=True) from None
    if not response.is_success:
        raise classify_refresh_failure(response.status_code, response.content)
    try:
        bundle = _parse_bundle(response.content)
    except ValueError as exc:
        raise RefreshError(f"failed to parse refresh response: {exc}", permanent=False) from None
    if not bundle.access_token:
        raise RefreshError("refresh response has no access_token", permanent=False)
    return bundle


async def exchange_api_key(http: httpx.AsyncClient, endpoints: Endpoints, id_token: str) -> str | None:
    """id_token → OpenAI Platform API key, as Codex CLI gets one. Best effort: None on any failure."""
    form = {"client_id": CLIENT_ID, "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "requested_token": "openai-api-key", "subject_token": id_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}
    try:
        response = await http.post(endpoints.token, data=form, headers=_FORM_HEADERS,
                                   timeout=REQUEST_TIMEOUT)
    except httpx.HTTPError as exc:
        log.warning("api key exchange failed: %s", type(exc).__name__)
        return None
    if not response.is_success:
        log.warning("api key exchange failed with status %d", response.status_code)
        return None
    try:
        key = as_str(orjson.loads(response.content).get("access_token"))
    except (orjson.JSONDecodeError, AttributeError):
        key = ""
    return key or None


async def revoke(http: httpx.AsyncClient, endpoints: Endpoints, *, refresh_token: str = "",
                 access_token: str = "") -> bool:
    """Best-effort revoke, as Codex CLI's logout does: the refresh token when known, else the access token."""
    if refresh_token:
        body = {"token": refresh_token, "token_type_hint": "refresh_token", "client_id": CLIENT_ID}
    elif access_token:
        body = {"token": access_token, "token_type_hint": "access_token"}
    else:
        return False
    try:
        response = await http.post(endpoints.revoke, json=body, timeout=REVOKE_TIMEOUT)
    except httpx.HTTPError as exc:
        log.warning("token revoke failed: %s", type(exc).__name__)
        return False
    if not response.is_success:
        log.warning("token revoke failed with status %d", response.status_code)
    return response.is_success
