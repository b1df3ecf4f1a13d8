"""A fake OpenAI OAuth issuer on a real loopback socket.

It implements what cliproxy talks to: the authorize redirect, the token endpoint (authorization
code with a real PKCE check, refresh with rotation and ``refresh_token_reused`` on reuse, the
API-key token exchange), the device user-code and token endpoints (pending 403 until the test
approves, then a server-held PKCE pair), and revoke. Bodies may be form or JSON (CPA sends
forms, Codex CLI JSON; the real issuer takes both). Every
request is recorded; every secret it hands out is remembered so tests can assert none leaks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .serving import serve_in_thread

CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AUTH_CLAIM = "https://api.openai.com/auth"
PROFILE_CLAIM = "https://api.openai.com/profile"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_jwt(payload: dict[str, Any]) -> str:
    """An unsigned test token: ``base64url({"alg":"none"}) . base64url(payload) . "sig"``."""
    header = _b64(b'{"alg":"none"}')
    return f"{header}.{_b64(json.dumps(payload).encode())}.sig"


@dataclass(frozen=True)
class Identity:
    email: str = "u@example.com"
    account_id: str = "acct_1"
    plan: str = "plus"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    content_type: str
    at: float


@dataclass
class Scripted:
    """One canned answer: a JSON body (dict/list), raw text (str) or nothing; after ``delay`` s."""

    status: int = 200
    body: Any = None
    delay: float = 0.0


@dataclass
class Device:
    user_code: str
    approved: bool = False
    expires_at: float = 0.0
    identity: Identity = field(default_factory=Identity)


class FakeIssuer:
    def __init__(self) -> None:
        self.url = ""
        self.identity = Identity()
        self.expires_in: int | None = 864000
        self.requests: list[Recorded] = []
        self.secrets: set[str] = set()
        self.token_replies: deque[Scripted] = deque()  # override /oauth/token, oldest first
        self.usercode_replies: deque[Scripted] = deque()
        self.poll_replies: deque[Scripted] = deque()
        self.refresh_delay = 0.0
        self.device_interval: Any = "1"
        self.device_lifetime = 900.0
        self.exchange_status = 200
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[str, str, Identity]] = {}  # code -> (challenge, redirect, who)
        self._refresh: dict[str, Identity] = {}  # valid refresh tokens
        self._spent: set[str] = set()
        self._devices: dict[str, Device] = {}
        self.app = Starlette(routes=[
            Route("/oauth/authorize", self._authorize, methods=["GET"]),
            Route("/oauth/token", self._token, methods=["POST"]),
            Route("/oauth/revoke", self._revoke, methods=["POST"]),
            Route("/api/accounts/deviceauth/usercode", self._usercode, methods=["POST"]),
            Route("/api/accounts/deviceauth/token", self._device_token, methods=["POST"]),
            Route("/codex/device", self._device_page, methods=["GET"]),
        ])

    # ---- helpers for tests ----

    def _secret(self, value: str) -> str:
        self.secrets.add(value)
        return value

    def tokens(self, identity: Identity | None = None, expires_in: int | None = None,
               lifetime: float | None = None) -> dict[str, Any]:
        """A fresh, valid token set for ``identity`` (its refresh token is accepted once)."""
        who = identity or self.identity
        life = lifetime if lifetime is not None else (expires_in or self.expires_in or 864000)
        now = int(time.time())
        auth = {"chatgpt_account_id": who.account_id, "chatgpt_plan_type": who.plan}
        access = unsigned_jwt({"exp": now + int(life), "iat": now, "jti": secrets.token_hex(8),
                               AUTH_CLAIM: auth, PROFILE_CLAIM: {"email": who.email}})
        ident = unsigned_jwt({"iss": self.url, "aud": [CLIENT_ID], "email": who.email, AUTH_CLAIM: auth,
                              "jti": secrets.token_hex(8)})
        refresh = "rt_" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[refresh] = who
        body: dict[str, Any] = {"access_token": self._secret(access), "refresh_token": self._secret(refresh),
                                "id_token": self._secret(ident), "token_type": "Bearer"}
        if expires_in is not None or self.expires_in is not None:
            body["expires_in"] = expires_in if expires_in is not None else self.expires_in
        return body

    def approve(self, user_code: str) -> None:
        with self._lock:
            for device in self._devices.values():
                if device.user_code == user_code:
                    device.approved = True
                    return
        raise KeyError(user_code)

    def on(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def grants(self, grant_type: str) -> list[Recorded]:
        return [r for r in self.on("/oauth/token") if r.body.get("grant_type") == grant_type]

    @property
    def refresh_calls(self) -> list[Recorded]:
        return self.grants("refresh_token")

    # ---- request plumbing ----

    async def _record(self, request: Request) -> Recorded:
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        body: dict[str, Any] = {}
        if raw and "json" in content_type:
            body = json.loads(raw)
        elif raw:
            body = dict(parse_qsl(raw.decode()))
        body.update({k: v for k, v in request.query_params.items() if k not in body})
        entry = Recorded(request.method, request.url.path, dict(request.headers), body, content_type,
                         time.monotonic())
        self.requests.append(entry)
        return entry

    @staticmethod
    async def _scripted(reply: Scripted) -> Response:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if isinstance(reply.body, dict | list):
            return JSONResponse(reply.body, status_code=reply.status)
        return Response(reply.body or "", status_code=reply.status, media_type="application/json")

    # ---- routes ----

    async def _authorize(self, request: Request) -> Response:
        entry = await self._record(request)
        query = entry.body
        if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = self._secret("ac_" + secrets.token_urlsafe(24))
        with self._lock:
            self._codes[code] = (query["code_challenge"], query["redirect_uri"], self.identity)
        target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
        return RedirectResponse(target, status_code=302)

    async def _token(self, request: Request) -> Response:
        entry = await self._record(request)
        if self.token_replies:
            return await self._scripted(self.token_replies.popleft())
        body = entry.body
        if body.get("client_id") != CLIENT_ID:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        handler = {"authorization_code": self._grant_code, "refresh_token": self._grant_refresh,
                   TOKEN_EXCHANGE: self._grant_exchange}.get(str(body.get("grant_type")))
        if handler is None:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        return await handler(body)

    async def _grant_code(self, body: dict[str, Any]) -> Response:
        self.secrets.add(str(body.get("code_verifier", "")))
        with self._lock:
            found = self._codes.pop(str(body.get("code")), None)
        if found is None:
            return JSONResponse({"error": "invalid_grant", "error_description": "bad code"}, status_code=400)
        challenge, redirect_uri, who = found
        verifier = str(body.get("code_verifier", ""))
        if _b64(hashlib.sha256(verifier.encode()).digest()) != challenge or body.get("redirect_uri") != redirect_uri:
            return JSONResponse({"error": "invalid_grant", "error_description": "pkce or redirect mismatch"},
                                status_code=400)
        return JSONResponse(self.tokens(who))

    async def _grant_refresh(self, body: dict[str, Any]) -> Response:
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        token = str(body.get("refresh_token"))
        with self._lock:
            who = self._refresh.pop(token, None)
            reused = who is None and token in self._spent
            self._spent.add(token)
        if reused:
            return JSONResponse({"error": {"code": "refresh_token_reused",
                                           "message": "Your refresh token has already been used"}},
                                status_code=401)
        if who is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(self.tokens(who))

    async def _grant_exchange(self, body: dict[str, Any]) -> Response:
        if self.exchange_status != 200:
            return Response("", status_code=self.exchange_status)
        return JSONResponse({"access_token": self._secret("sk-proj-" + secrets.token_urlsafe(20))})

    async def _revoke(self, request: Request) -> Response:
        entry = await self._record(request)
        with self._lock:
            self._refresh.pop(str(entry.body.get("token")), None)
        return JSONResponse({})

    async def _usercode(self, request: Request) -> Response:
        await self._record(request)
        if self.usercode_replies:
            return await self._scripted(self.usercode_replies.popleft())
        device_id = "d_" + secrets.token_hex(6)
        user_code = f"{secrets.token_hex(2).upper()}-{secrets.randbelow(10000):04d}"
        with self._lock:
            self._devices[device_id] = Device(user_code, expires_at=time.time() + self.device_lifetime,
                                              identity=self.identity)
        body: dict[str, Any] = {"device_auth_id": device_id, "user_code": user_code}
        if self.device_interval is not None:
            body["interval"] = self.device_interval
        return JSONResponse(body)

    async def _device_token(self, request: Request) -> Response:
        entry = await self._record(request)
        if self.poll_replies:
            return await self._scripted(self.poll_replies.popleft())
        with self._lock:
            device = self._devices.get(str(entry.body.get("device_auth_id")))
        if device is None or device.user_code != entry.body.get("user_code"):
            return JSONResponse({"error": "invalid_device"}, status_code=400)
        if time.time() > device.expires_at:
            return JSONResponse({"error": "device_code_expired"}, status_code=400)
        if not device.approved:
            return JSONResponse({"error": "authorization_pending"}, status_code=403)
        verifier = self._secret(_b64(secrets.token_bytes(64)))
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        code = self._secret("ac_" + secrets.token_urlsafe(24))
        with self._lock:
            self._codes[code] = (challenge, f"{self.url}/deviceauth/callback", device.identity)
            device.approved = False  # one grant per approval
        return JSONResponse({"authorization_code": code, "code_verifier": verifier,
                             "code_challenge": challenge})

    async def _device_page(self, request: Request) -> Response:
        return HTMLResponse("<h1>Enter your code</h1>")


@contextmanager
def running_issuer() -> Iterator[FakeIssuer]:
    issuer = FakeIssuer()
    with serve_in_thread(issuer.app) as url:
        issuer.url = url
        yield issuer
