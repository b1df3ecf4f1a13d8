"""The public routes, built inline: a ``ProxyError`` raised inside a route reaches the client as a real
HTTP status in the dialect of the path, with the headers it carries (Retry-After), streaming or not.

No upstream is contacted: every error here happens before the runner would send anything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cliproxy.config.load import parse_config
from cliproxy.config.snapshot import Snapshot
from cliproxy.errors import Outcome, ProxyError
from cliproxy.server.app import build_app, build_services
from cliproxy.server.services import Services
from tests.helpers import write_account

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


def gemini(model: str, action: str = "generateContent") -> str:
    return f"/v1beta/models/{model}:{action}"


def chat_body(model: str = "gpt-5.4", stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


def messages_body(model: str = "gpt-5.4", stream: bool = False) -> dict[str, Any]:
    return {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.fixture
def services(tmp_path: Path) -> Services:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    raw = {"auth-dir": str(tmp_path / "auth"), "codex-base-url": "http://127.0.0.1:9/backend-api/codex",
           "models": {"discovery": False}}
    return build_services(Snapshot.build(parse_config(raw)), "127.0.0.1")


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    # No lifespan (no ``with``): no background work, and nothing is sent upstream.
    yield TestClient(build_app(services), base_url="http://localhost", raise_server_exceptions=False)


def assert_openai_error(response: Any, status: int, code: str | None) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["code"] == code
    return dict(error)


def assert_anthropic_error(response: Any, status: int, error_type: str) -> str:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    return str(body["error"]["message"])


def assert_google_error(response: Any, status: int, google_status: str) -> str:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "status"}
    assert error["code"] == status and error["status"] == google_status
    return str(error["message"])


# ---- a body that is not JSON ----------------------------------------------------------------------

def test_a_body_that_is_not_json_is_a_400_in_each_dialect(client: TestClient) -> None:
    broken = {"content": b"{not json", "headers": {"content-type": "application/json"}}
    error = assert_openai_error(client.post(CHAT, **broken), 400, None)  # type: ignore[arg-type]
    assert error["type"] == "invalid_request_error" and "not valid JSON" in error["message"]
    assert "not valid JSON" in assert_anthropic_error(
        client.post(MESSAGES, **broken), 400, "invalid_request_error")  # type: ignore[arg-type]
    assert "not valid JSON" in assert_google_error(
        client.post(gemini("gpt-5.4"), **broken), 400, "INVALID_ARGUMENT")  # type: ignore[arg-type]


def test_an_unsupported_content_encoding_is_a_415(client: TestClient) -> None:
    response = client.post(CHAT, content=b"{}", headers={"content-encoding": "br"})
    assert_openai_error(response, 415, None)


# ---- an unknown model -----------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_an_unknown_model_is_a_404_in_each_dialect_even_when_streaming(client: TestClient, stream: bool) -> None:
    assert_openai_error(client.post(CHAT, json=chat_body("no-such-model", stream)), 404, "model_not_found")
    message = assert_anthropic_error(client.post(MESSAGES, json=messages_body("no-such-model", stream)), 404,
                                     "not_found_error")
    assert "no-such-model" in message and "ANTHROPIC_DEFAULT" not in message
    action = "streamGenerateContent" if stream else "generateContent"
    assert "no-such-model" in assert_google_error(client.post(gemini("no-such-model", action), json=GEMINI_BODY),
                                                  404, "NOT_FOUND")


@pytest.mark.parametrize("stream", [False, True])
def test_a_claude_model_name_is_a_400_naming_the_settings_and_the_served_models(client: TestClient,
                                                                               stream: bool) -> None:
    """A 400, not a 404: Claude Code prints a 400's message verbatim and hides a 404's."""
    message = assert_anthropic_error(client.post(MESSAGES, json=messages_body("claude-opus-4-1", stream)), 400,
                                     "invalid_request_error")
    assert message.startswith("The model `claude-opus-4-1` does not exist")
    assert "ANTHROPIC_DEFAULT_OPUS_MODEL" in message and "ANTHROPIC_DEFAULT_HAIKU_MODEL" in message
    assert "gpt-5.4" in message and "cliproxy setup claude" in message and "(model_not_found)" in message


def test_an_unknown_gemini_action_is_a_google_404(client: TestClient) -> None:
    assert_google_error(client.post(gemini("gpt-5.4", "embedContent"), json=GEMINI_BODY), 404, "NOT_FOUND")


# ---- every account resting: the 429 keeps its Retry-After -----------------------------------------

@pytest.fixture
def resting(services: Services) -> Services:
    """The only account has spent its quota for ten minutes."""
    pool = services.runner.pool
    spent = ProxyError(429, "The usage limit has been reached", code="usage_limit_reached",
                       outcome=Outcome.QUOTA_EXHAUSTED, retry_after=600)
    pool.record(pool.credentials()[0], "gpt-5.4", spent)
    return services


def assert_retry_after(response: Any) -> None:
    assert 590 <= int(response.headers["retry-after"]) <= 600
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("stream", [False, True])
def test_a_pool_with_no_account_left_answers_429_with_retry_after(client: TestClient, resting: Services,
                                                                   stream: bool) -> None:
    chat = client.post(CHAT, json=chat_body(stream=stream))
    assert "resting" in assert_openai_error(chat, 429, "rate_limit_exceeded")["message"]
    assert_retry_after(chat)
    messages = client.post(MESSAGES, json=messages_body(stream=stream))
    assert_anthropic_error(messages, 429, "rate_limit_error")
    assert_retry_after(messages)
    action = "streamGenerateContent" if stream else "generateContent"
    google = client.post(gemini("gpt-5.4", action), json=GEMINI_BODY)
    assert_google_error(google, 429, "RESOURCE_EXHAUSTED")
    assert_retry_after(google)


def test_no_configured_account_is_a_503_that_names_the_fix(tmp_path: Path) -> None:
    raw = {"auth-dir": str(tmp_path / "auth"), "models": {"discovery": False}}
    app = build_app(build_services(Snapshot.build(parse_config(raw)), "127.0.0.1"))
    response = TestClient(app, base_url="http://localhost").post(MESSAGES, json=messages_body())
    assert "cliproxy login" in assert_anthropic_error(response, 503, "api_error")
    assert "retry-after" not in response.headers



# ---- our own bug --------------------------------------------------------------------------------


class Records(logging.Handler):
    """Keeps what a logger emits, as it was emitted: a handler further up (the log redactor of an
    earlier test) may rewrite the same record object afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, bool]] = []  # (message, with a traceback)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), record.exc_info is not None))


def test_a_bug_in_a_route_is_a_500_naming_a_request_id_in_the_dialect(client: TestClient, monkeypatch: Any) -> None:
    """Given a route that fails in a way nobody expected, the client reads a 500 in its own dialect that
    names a request id (never the exception's text or a traceback), and the log line carries that id."""
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    handler = Records()
    logger = logging.getLogger("cliproxy.server.errors")
    logger.addHandler(handler)
    monkeypatch.setattr("cliproxy.server.routes.apply_reasoning", broken)
    try:
        message = assert_anthropic_error(client.post("/v1/messages", json=messages_body()), 500, "api_error")
    finally:
        logger.removeHandler(handler)
    request_id = message.split("(request ", 1)[1].split(")", 1)[0]
    assert "secret internals" not in message and len(request_id) == 16
    assert any(request_id in line and traceback for line, traceback in handler.lines)
    error = assert_openai_error(client.post("/v1/chat/completions", json=chat_body()), 500, "internal_server_error")
    assert "request " in error["message"]
