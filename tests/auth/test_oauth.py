"""HTTP to the issuer: PKCE, the authorize URL, code exchange errors, refresh classification."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cliproxy.auth.errors import AuthenticationError, RefreshError, redact
from cliproxy.auth.oauth import (
    CLIENT_ID,
    Endpoints,
    authorize_url,
    classify_refresh_failure,
    exchange_code,
    redirect_uri_for,
    refresh_tokens,
    revoke,
)
from cliproxy.auth.pkce import PkcePair, challenge_for, generate_state
from tests.fakes.issuer import FakeIssuer, Scripted


def test_pkce_pair_and_state_have_cpa_sizes() -> None:
    pair = PkcePair.generate()
    assert re.fullmatch(r"[A-Za-z0-9_-]{128}", pair.verifier)
    assert len(pair.challenge) == 43 and pair.challenge == challenge_for(pair.verifier)
    assert re.fullmatch(r"[0-9a-f]{32}", generate_state())
    assert pair.verifier not in repr(pair)


def test_authorize_url_has_exactly_cpa_parameters_sorted() -> None:
    # the shape only; the subprocess test checks it end to end
    url = authorize_url(Endpoints("https://auth.openai.com"), challenge="C", state="S",
                        redirect_uri=redirect_uri_for())
    assert url == ("https://auth.openai.com/oauth/authorize?client_id=app_EMoamEEZ73f0CkXaXp7hrann"
                   "&code_challenge=C&code_challenge_method=S256&codex_cli_simplified_flow=true"
                   "&id_token_add_organizations=true&prompt=login"
                   "&redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback&response_type=code"
                   "&scope=openid+email+profile+offline_access&state=S")


def test_every_endpoint_derives_from_the_issuer() -> None:
    endpoints = Endpoints("http://fake")
    assert {endpoints.authorize, endpoints.token, endpoints.revoke, endpoints.device_usercode,
            endpoints.device_token, endpoints.device_verification, endpoints.device_redirect} == {
        "http://fake/oauth/authorize", "http://fake/oauth/token", "http://fake/oauth/revoke",
        "http://fake/api/accounts/deviceauth/usercode", "http://fake/api/accounts/deviceauth/token",
        "http://fake/codex/device", "http://fake/deviceauth/callback"}


@pytest.mark.parametrize(("reply", "cause"), [
    (Scripted(400, {"error": "invalid_grant", "error_description": "bad code"}), "status 400"),
    (Scripted(500, ""), "status 500: empty response body"),
    (Scripted(200, "not json"), "failed to parse token response"),
    (Scripted(200, {"access_token": "a", "refresh_token": "r", "id_token": "i", "expires_in": "x"}),
     "expires_in is not an integer"),
])
async def test_token_endpoint_errors_are_code_exchange_failed(issuer: FakeIssuer, reply: Scripted,
                                                              cause: str) -> None:
    issuer.token_replies.append(reply)
    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthenticationError) as caught:
            await exchange_code(http, Endpoints(issuer.url), code="C1", verifier="v" * 43,
                                redirect_uri=redirect_uri_for())
    assert caught.value.kind == "code_exchange_failed" and cause in str(caught.value)
    sent = issuer.grants("authorization_code")[0]
    assert sent.content_type.startswith("application/x-www-form-urlencoded")
    assert sent.body == {"grant_type": "authorization_code", "client_id": CLIENT_ID, "code": "C1",
                         "code_verifier": "v" * 43, "redirect_uri": "http://localhost:1455/auth/callback"}


async def test_refresh_request_is_cpa_form(issuer: FakeIssuer) -> None:
    tokens = issuer.tokens()
    async with httpx.AsyncClient() as http:
        bundle = await refresh_tokens(http, Endpoints(issuer.url), tokens["refresh_token"])
    assert bundle.refresh_token and bundle.refresh_token != tokens["refresh_token"]
    assert issuer.refresh_calls[0].body == {"client_id": CLIENT_ID, "grant_type": "refresh_token",
                                            "refresh_token": tokens["refresh_token"],
                                            "scope": "openid profile email"}


@pytest.mark.parametrize(("status", "body", "permanent", "reason"), [
    (401, b'{"error":{"code":"refresh_token_reused","message":"m"}}', True, "reused"),
    (401, b'{"error":{"code":"refresh_token_expired"}}', True, "expired"),
    (401, b'{"error":"refresh_token_invalidated"}', True, "revoked"),
    (401, b"", True, "other"),
    (400, b'{"error":"invalid_grant"}', True, "invalid"),  # our divergence from CPA
    (400, b'{"code":"refresh_token_reused"}', True, "reused"),
    (503, b"", False, "transient"),
    (429, b'{"error":"slow down"}', False, "transient"),
    (400, b'{"error":"invalid_request"}', False, "transient"),
])
def test_refresh_failures_are_classified(status: int, body: bytes, permanent: bool, reason: str) -> None:
    error = classify_refresh_failure(status, body)
    assert (error.permanent, error.reason) == (permanent, reason)
    assert f"token refresh failed with status {status}" in str(error)


def test_retryable_means_5xx_429_not_permanent() -> None:
    assert classify_refresh_failure(503, b"").retryable
    assert not classify_refresh_failure(401, b"").retryable
    assert not RefreshError("timeout", permanent=False).retryable


def test_error_text_never_carries_a_jwt_or_a_code() -> None:
    text = redact('{"id_token":"eyJhbGciOi.eyJzdWIiOiIx.sig"} http://x/cb?code=ac_secret&state=abc')
    assert "eyJzdWIiOiIx" not in text and "ac_secret" not in text and "abc" not in text
    body = redact('{"refresh_token": "rt_s3cret", "error": {"code": "refresh_token_reused"}}')
    assert "rt_s3cret" not in body and "refresh_token_reused" in body


async def test_revoke_sends_the_refresh_token_with_client_id(issuer: FakeIssuer) -> None:
    async with httpx.AsyncClient() as http:
        assert await revoke(http, Endpoints(issuer.url), refresh_token="rt_x")
        assert not await revoke(http, Endpoints("http://127.0.0.1:9"), refresh_token="rt_x")
    sent = issuer.on("/oauth/revoke")[0]
    assert sent.body == {"token": "rt_x", "token_type_hint": "refresh_token", "client_id": CLIENT_ID}
    assert parse_qs(urlsplit(issuer.url).query) == {}
