"""Who may use the dashboard's API: a session cookie from the management secret, the CSRF token on
every change, this machine only unless remote management is allowed, nothing when management is off."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from cliproxy.config.load import load_config
from cliproxy.config.snapshot import Snapshot
from cliproxy.server.app import build_app, build_services
from tests.helpers import write_account

SECRET = "dash-secret-Hq27"
LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.9", 50000)

Client = Callable[..., httpx.AsyncClient]


def _config(tmp_path: Path, extra: str) -> Path:
    auth = tmp_path / "auth"
    write_account(auth, "a", "tok-a", "acc-1")
    config = tmp_path / "conf" / "config.yaml"
    config.parent.mkdir()
    config.write_text(f"auth-dir: {auth}\nmodels:\n  discovery: false\napi-keys: [sk-client-1]\n{extra}")
    return config


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    """A client of a server built from a config with ``extra`` lines, seen from ``address``."""
    opened: list[httpx.AsyncClient] = []

    def make(extra: str = f"remote-management:\n  secret-key: {SECRET}\n", address: tuple[str, int] = LOOPBACK,
             ) -> httpx.AsyncClient:
        config = _config(tmp_path / str(len(opened)), extra)
        loaded, _ = load_config(config, environ={})
        app = build_app(build_services(Snapshot.build(loaded), "127.0.0.1", config_path=config))
        transport = httpx.ASGITransport(app=app, client=address)
        opened.append(httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8317"))
        return opened[-1]

    yield make
    for each in opened:
        await each.aclose()


async def _login(api: httpx.AsyncClient, secret: str = SECRET) -> httpx.Response:
    return await api.post("/dashboard/api/login", json={"secret": secret})


async def test_without_a_session_cookie_the_api_answers_401(client: Client) -> None:
    api = client()
    for path in ("/dashboard/api/live", "/dashboard/api/m/auth-files", "/dashboard/api/session"):
        answer = await api.get(path)
        assert answer.status_code == 401, path
        assert answer.json() == {"error": "log in first"}


async def test_the_right_secret_gives_a_strict_http_only_cookie_scoped_to_the_dashboard(client: Client) -> None:
    api = client()
    answer = await _login(api)
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    assert SECRET not in cookie
    listing = await api.get("/dashboard/api/m/auth-files", headers={"x-csrf-token": answer.json()["csrf"]})
    assert [f["name"] for f in listing.json()["files"]] == ["codex-a.json"]


async def test_a_wrong_secret_is_refused_and_gives_no_cookie(client: Client) -> None:
    api = client()
    answer = await _login(api, "not-the-secret")
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert (await api.get("/dashboard/api/live")).status_code == 401


async def test_a_state_change_without_the_csrf_token_is_refused(client: Client) -> None:
    api = client()
    csrf = (await _login(api)).json()["csrf"]
    path = "/dashboard/api/m/auth-files/status"
    body = {"name": "codex-a.json", "disabled": True}
    assert (await api.patch(path, json=body)).status_code == 403
    assert (await api.patch(path, json=body, headers={"x-csrf-token": "guessed"})).status_code == 403
    listing = await api.get("/dashboard/api/m/auth-files", headers={"x-csrf-token": csrf})
    assert listing.json()["files"][0]["disabled"] is False  # nothing changed
    done = await api.patch(path, json=body, headers={"x-csrf-token": csrf})
    assert done.status_code == 200, done.text


async def test_a_change_sent_from_another_site_is_refused_even_with_the_token(client: Client) -> None:
    api = client()
    csrf = (await _login(api)).json()["csrf"]
    answer = await api.post("/dashboard/api/m/auth-files/reset", headers={"x-csrf-token": csrf,
                                                                          "origin": "https://evil.example"})
    assert answer.status_code == 403
    assert "another site" in answer.json()["error"]


async def test_logging_out_ends_the_session(client: Client) -> None:
    api = client()
    csrf = (await _login(api)).json()["csrf"]
    assert (await api.post("/dashboard/api/logout", headers={"x-csrf-token": csrf})).status_code == 200
    api.cookies.clear()
    assert (await api.get("/dashboard/api/session")).status_code == 401


async def test_a_remote_client_is_refused_unless_remote_management_is_allowed(client: Client) -> None:
    refused = client(address=REMOTE)
    assert (await refused.get("/dashboard/")).status_code == 403
    assert (await _login(refused)).status_code == 403
    allowed = client(f"remote-management:\n  secret-key: {SECRET}\n  allow-remote: true\n", address=REMOTE)
    assert (await allowed.get("/dashboard/")).status_code == 200
    assert (await _login(allowed)).status_code == 200


async def test_without_a_management_secret_there_is_no_dashboard(client: Client) -> None:
    api = client("")
    for path in ("/dashboard/", "/management.html", "/dashboard/api/live"):
        assert (await api.get(path)).status_code == 404, path


async def test_cliproxyapis_management_page_path_leads_to_the_dashboard(client: Client) -> None:
    answer = await client().get("/management.html")
    assert answer.status_code == 307
    assert answer.headers["location"] == "/dashboard/"


async def test_the_page_and_its_assets_load_nothing_from_elsewhere(client: Client) -> None:
    api = client()
    page = await api.get("/dashboard/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace("http-equiv", "")  # no absolute address in the page
    script = await api.get("/dashboard/static/js/main.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert (await api.get("/dashboard/static/../app.py")).status_code == 404
