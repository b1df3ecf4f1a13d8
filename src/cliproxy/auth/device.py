"""The device-code flow: sign in on another device with a short code.

For machines without a browser (SSH, containers). The issuer holds the PKCE pair in this flow: a
successful poll returns an authorization code *and* its verifier, which then go through the normal
code exchange with the issuer's ``/deviceauth/callback`` redirect URI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from cliproxy.auth.errors import DeviceFlowError, redact
from cliproxy.auth.oauth import CLIENT_ID, REQUEST_TIMEOUT, Endpoints

DEVICE_TIMEOUT = 15 * 60.0
DEFAULT_INTERVAL = 5.0
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class DeviceCode:
    device_auth_id: str = field(repr=False)
    user_code: str
    interval: float
    verification_url: str


@dataclass(frozen=True)
class DeviceGrant:
    authorization_code: str = field(repr=False)
    code_verifier: str = field(repr=False)
    code_challenge: str = field(repr=False)


def parse_interval(value: Any) -> float:
    """An integer or a numeric string; missing, unparsable or ≤ 0 falls back to 5 s (CPA)."""
    if isinstance(value, bool):
        return DEFAULT_INTERVAL
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_INTERVAL
    return seconds if seconds > 0 else DEFAULT_INTERVAL


def _body(response: httpx.Response) -> str:
    text = response.text.strip()
    return redact(text) if text else "empty response body"


def _str_field(data: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise DeviceFlowError(f"failed to decode {what}: {exc}") from None
    if not isinstance(data, dict):
        raise DeviceFlowError(f"failed to decode {what}: not a JSON object")
    return data


async def request_device_code(http: httpx.AsyncClient, endpoints: Endpoints) -> DeviceCode:
    """Step 1: ask for a user code (body exactly ``{"client_id": ...}``)."""
    try:
        response = await http.post(endpoints.device_usercode, content=orjson.dumps({"client_id": CLIENT_ID}),
                                   headers=_JSON_HEADERS, timeout=REQUEST_TIMEOUT)
    except httpx.HTTPError as exc:
        raise DeviceFlowError(f"failed to request codex device code: {type(exc).__name__}") from None
    if response.status_code == 404:
        raise DeviceFlowError("codex device endpoint is unavailable (status 404)")
    if not response.is_success:
        raise DeviceFlowError(
            f"codex device code request failed with status {response.status_code}: {_body(response)}")
    data = _json_object(response, "codex device code response")
    device_auth_id = _str_field(data, "device_auth_id")
    user_code = _str_field(data, "user_code", "usercode")
    if not device_auth_id or not user_code:
        raise DeviceFlowError("codex device flow did not return required fields")
    return DeviceCode(device_auth_id=device_auth_id, user_code=user_code,
                      interval=parse_interval(data.get("interval")),
                      verification_url=endpoints.device_verification)


def _format_limit(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute" + ("" if minutes == 1 else "s")
    return f"{seconds:g} second" + ("" if seconds == 1 else "s")


async def _poll_once(http: httpx.AsyncClient, endpoints: Endpoints, code: DeviceCode) -> DeviceGrant | None:
    body = orjson.dumps({"device_auth_id": code.device_auth_id, "user_code": code.user_code})
    try:
        response = await http.post(endpoints.device_token, content=body, headers=_JSON_HEADERS,
                                   timeout=REQUEST_TIMEOUT)
    except httpx.HTTPError as exc:
        raise DeviceFlowError(f"failed to poll codex device token: {type(exc).__name__}") from None
    if response.status_code in (403, 404):
        return None
    if not response.is_success:
        raise DeviceFlowError(
            f"codex device token polling failed with status {response.status_code}: {_body(response)}")
    data = _json_object(response, "codex device token response")
    grant = DeviceGrant(authorization_code=_str_field(data, "authorization_code"),
                        code_verifier=_str_field(data, "code_verifier"),
                        code_challenge=_str_field(data, "code_challenge"))
    if not (grant.authorization_code and grant.code_verifier and grant.code_challenge):
        raise DeviceFlowError("codex device flow token response missing required fields")
    return grant


async def poll_device_token(
    http: httpx.AsyncClient, endpoints: Endpoints, code: DeviceCode, *,
    timeout: float = DEVICE_TIMEOUT, sleep: Sleep = asyncio.sleep, clock: Clock = time.monotonic,
    on_wait: Callable[[float], None] | None = None,
) -> DeviceGrant:
    """Poll until the user approves: first poll at once, then every ``interval``; 403/404 mean
    pending; the deadline is checked before each poll, as CPA does.

    ``on_wait(seconds_left)`` is called before each sleep, for a countdown."""
    deadline = clock() + timeout
    while True:
        if clock() >= deadline:
            raise DeviceFlowError(f"codex device authentication timed out after {_format_limit(timeout)}")
        grant = await _poll_once(http, endpoints, code)
        if grant is not None:
            return grant
        left = deadline - clock()
        if on_wait is not None:
            on_wait(max(0.0, left))
        await sleep(max(0.0, min(code.interval, left)))
