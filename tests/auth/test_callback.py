"""The callback server's routes and the parser for a pasted redirect URL."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from cliproxy.auth.callback import CallbackParams, CallbackServer, check_pasted, parse_callback_input
from cliproxy.auth.errors import AuthenticationError, AuthError, CallbackInputError, OAuthError

STATE = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("text", [
    f"http://localhost:1455/auth/callback?code=C2&state={STATE}",
    f"?code=C2&state={STATE}",
    f"localhost:1455/auth/callback?code=C2&state={STATE}",
    f"code=C2&state={STATE}",
    f"#code=C2&state={STATE}",
    f"code=C2%23{STATE}",
])
def test_every_paste_form_yields_the_code_and_state(text: str) -> None:
    params = parse_callback_input(text)
    assert params == CallbackParams(code="C2", state=STATE)
    assert check_pasted(params, STATE) == "C2"


def test_a_bare_code_is_accepted_without_state() -> None:
    # the prompt also takes a bare code, one long enough that a typo is not mistaken for it
    params = parse_callback_input("ac_0123456789abcdefXYZ")
    assert params is not None and check_pasted(params, STATE) == "ac_0123456789abcdefXYZ"


def test_empty_input_means_keep_waiting() -> None:
    assert parse_callback_input("   ") is None


@pytest.mark.parametrize(("text", "error", "message"), [
    ("garbage", CallbackInputError, "invalid callback URL"),
    ("http://x/?state=s", CallbackInputError, "callback URL missing code"),
    ("http://x/?code=C&state=wrong", AuthenticationError, "invalid_state"),
    ("http://x/?code=C", AuthenticationError, "invalid_state"),
    ("?error=access_denied&error_description=d", OAuthError, "OAuth error access_denied: d"),
])
def test_bad_pastes_end_the_login(text: str, error: type[AuthError], message: str) -> None:
    with pytest.raises(error, match=message):
        params = parse_callback_input(text)
        assert params is not None
        check_pasted(params, STATE)


def test_entitlement_error_gets_codex_message() -> None:
    error = OAuthError("access_denied", "missing_codex_entitlement for workspace")
    assert "Codex is not enabled for your workspace" in error.friendly


class Recorder:
    def __init__(self, fail_exchange: bool = False) -> None:
        self.codes: list[str] = []
        self.errors: list[AuthError] = []
        self.fail_exchange = fail_exchange

    async def on_code(self, code: str) -> None:
        self.codes.append(code)
        if self.fail_exchange:
            raise AuthenticationError("code_exchange_failed", "token exchange failed with status 400")

    def on_error(self, error: AuthError) -> None:
        self.errors.append(error)


async def serve(recorder: Recorder) -> tuple[CallbackServer, str]:
    server = CallbackServer(state=STATE, on_code=recorder.on_code, on_error=recorder.on_error, port=0)
    await server.start()
    return server, f"http://127.0.0.1:{server.port}"


async def test_routes_of_the_callback_server() -> None:
    # as Codex CLI does: strays get 400/404/405 and the login keeps waiting
    recorder = Recorder()
    server, base = await serve(recorder)
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.post("/auth/callback")).status_code == 405
            assert (await client.get("/foo")).status_code == 404
            missing_state = await client.get("/auth/callback", params={"code": "C"})
            assert (missing_state.status_code, missing_state.text) == (400, "No state parameter received")
            wrong = await client.get("/auth/callback", params={"code": "C", "state": "nope"})
            assert (wrong.status_code, wrong.text) == (400, "State mismatch")
            assert recorder.codes == [] and recorder.errors == []
            ok = await client.get("/auth/callback", params={"code": "C1", "state": STATE})
            assert (ok.status_code, ok.headers["location"]) == (302, "/success")
            page = await client.get("/success")
            assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert recorder.codes == ["C1"] and server.success_served.is_set()
    finally:
        await server.close()


async def test_error_and_missing_code_end_the_login() -> None:
    recorder = Recorder()
    server, base = await serve(recorder)
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            denied = await client.get("/auth/callback", params={"error": "access_denied",
                                                                "error_description": "nope", "state": STATE})
            assert denied.status_code == 400 and "cancelled or denied" in denied.text
            no_code = await client.get("/auth/callback", params={"state": STATE})
            assert (no_code.status_code, no_code.text) == (400, "No authorization code received")
    finally:
        await server.close()
    assert [type(e) for e in recorder.errors] == [OAuthError, OAuthError]
    assert isinstance(recorder.errors[0], OAuthError) and recorder.errors[0].error == "access_denied"


async def test_failed_exchange_shows_an_error_page_not_success() -> None:
    recorder = Recorder(fail_exchange=True)
    server, base = await serve(recorder)
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            response = await client.get("/auth/callback", params={"code": "C1", "state": STATE})
    finally:
        await server.close()
    assert response.status_code == 400 and "Sign-in failed" in response.text


async def test_a_busy_port_is_port_in_use() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        server = CallbackServer(state=STATE, on_code=Recorder().on_code, on_error=Recorder().on_error,
                                port=port)
        with pytest.raises(AuthenticationError) as caught:
            await server.start()
    finally:
        holder.close()
    assert caught.value.kind == "port_in_use" and caught.value.code == 13
    assert f"port {port} is already in use" in caught.value.friendly  # the real port, not CPA's "3000"


async def test_a_silent_client_does_not_block_the_server() -> None:
    recorder = Recorder()
    server, base = await serve(recorder)
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /auth/callback?code=C1&state=" + STATE.encode())  # no end of head
        async with httpx.AsyncClient(base_url=base) as client:
            ok = await client.get("/auth/callback", params={"code": "C1", "state": STATE})
        assert ok.status_code == 302
        writer.close()
    finally:
        await server.close()
