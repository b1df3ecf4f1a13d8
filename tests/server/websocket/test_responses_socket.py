"""Responses over a WebSocket, as Codex CLI speaks it: the ``websockets`` client against the real server,
with the fake Codex backend behind it and two accounts in the pool."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from socket import create_connection
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, run_proxy, write_account

KEY = "sk-local-1"
CODEX_HEADERS = {"authorization": f"Bearer {KEY}", "originator": "codex_exec", "session-id": "thread-1",
                 "user-agent": "codex_exec/0.171.0 (Debian 12.0.0; x86_64) xterm",
                 "openai-beta": "responses_websockets=2026-02-06"}
DEVELOPER = {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be brief"}]}
USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather in Paris?"}]}
TOOL_OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}


@contextmanager
def proxy_for(fake: FakeCodex, auth: Path, **config: Any) -> Iterator[Proxy]:
    with run_proxy(auth, fake.url + "/backend-api/codex", **{"api-keys": [KEY], **config}) as running:  # type: ignore[attr-defined]
        yield running


def socket(proxy: Proxy, path: str = "/v1/responses", headers: dict[str, str] | None = None) -> ClientConnection:
    url = proxy.url.replace("http://", "ws://") + path
    return connect(url, additional_headers=CODEX_HEADERS if headers is None else headers, open_timeout=10)


def create(**fields: Any) -> str:
    return json.dumps({"type": "response.create", "model": "gpt-5.4", "stream": True, **fields})


def turn(ws: ClientConnection, message: str) -> list[dict[str, Any]]:
    """Send one request; the events up to its end (completed, or an error frame)."""
    ws.send(message)
    events: list[dict[str, Any]] = []
    while True:
        frame = ws.recv(timeout=20)
        assert isinstance(frame, str), "every event is a text frame"
        events.append(json.loads(frame))
        if events[-1]["type"] in ("response.completed", "response.incomplete", "error"):
            return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def test_create_streams_each_event_as_one_text_frame(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        events = turn(ws, create(input=[DEVELOPER, USER]))
    assert types(events) == [e["type"] for e in ev.text_stream()]
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["Hel", "lo"]
    sent = fake.inference_requests()[0]
    assert sent.body["input"] == [DEVELOPER, USER] and sent.body["store"] is False


def test_codex_is_shown_the_pools_quota_in_rate_limits(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        events = turn(ws, create(input=[USER]))
    limits = next(e for e in events if e["type"] == "codex.rate_limits")
    assert limits != ev.rate_limits()  # rewritten: the pool's view, not the serving account's own


def test_an_account_without_websockets_gets_the_whole_transcript_over_http(fake: FakeCodex, tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    write_account(auth, "a", "tok-a", "acc-1", websockets=False)
    fake.default = Reply(events=ev.tool_stream())
    with proxy_for(fake, auth) as proxy, socket(proxy) as ws:
        first = turn(ws, create(input=[DEVELOPER, USER]))
        response_id = first[-1]["response"]["id"]
        fake.default = Reply()
        second = turn(ws, create(previous_response_id=response_id, input=[TOOL_OUTPUT]))
    assert second[-1]["type"] == "response.completed"
    follow_up = fake.inference_requests()[1].body
    call = next(e["item"] for e in first if e["type"] == "response.output_item.done")
    assert follow_up["input"] == [DEVELOPER, USER, call, TOOL_OUTPUT]
    assert "previous_response_id" not in follow_up
    assert fake.socket_frames() == [] and fake.handshakes == []


def test_both_turns_of_a_session_stay_on_one_account(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        first = turn(ws, create(input=[USER], prompt_cache_key="thread-1"))
        turn(ws, create(input=[USER], previous_response_id=first[-1]["response"]["id"], prompt_cache_key="thread-1"))
    tokens = {r.headers["authorization"] for r in fake.inference_requests()}
    assert len(tokens) == 1


def test_unknown_previous_response_id_asks_for_the_full_context(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        events = turn(ws, create(previous_response_id="resp_from_another_socket", input=[TOOL_OUTPUT]))
        assert events == [{"type": "error", "status": 400, "error": {
            "message": "Previous response with id 'resp_from_another_socket' not found.",
            "type": "invalid_request_error", "param": "previous_response_id", "code": "previous_response_not_found"}}]
        again = turn(ws, create(input=[DEVELOPER, USER]))  # what Codex does next: the socket still serves
    assert again[-1]["type"] == "response.completed"
    assert len(fake.inference_requests()) == 1


def test_prewarm_is_answered_without_asking_the_backend(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        prewarm = turn(ws, create(generate=False, input=[DEVELOPER]))
        follow = turn(ws, create(previous_response_id=prewarm[-1]["response"]["id"], input=[USER]))
    assert types(prewarm) == ["response.created", "response.completed"]
    assert prewarm[-1]["response"]["id"].startswith("resp_prewarm_")
    assert [r.body["input"] for r in fake.inference_requests()] == [[DEVELOPER, USER]]
    assert follow[-1]["type"] == "response.completed"


def test_client_side_compaction_replaces_the_transcript(fake: FakeCodex, accounts: Path) -> None:
    summary = {"type": "compaction", "encrypted_content": ev.BLOB}
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        first = turn(ws, create(input=[DEVELOPER, USER]))
        turn(ws, create(previous_response_id=first[-1]["response"]["id"], input=[DEVELOPER, summary, USER]))
    assert fake.inference_requests()[1].body["input"] == [DEVELOPER, summary, USER]


def test_failure_before_content_is_served_by_the_other_account(fake: FakeCodex, accounts: Path) -> None:
    fake.script("tok-a", Reply(status=500, body={"detail": "boom"}))
    fake.script("tok-b", Reply(status=500, body={"detail": "boom"}))
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        events = turn(ws, create(input=[USER]))
    assert events[-1]["type"] == "response.completed"
    assert len(fake.inference_requests()) == 3


def test_failure_after_content_is_one_error_frame_and_the_socket_serves_on(fake: FakeCodex, accounts: Path) -> None:
    fake.default = Reply(cut_after=len(ev.preamble()) + 4)
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        cut = turn(ws, create(input=[USER]))
        fake.default = Reply()
        again = turn(ws, create(input=[USER]))
    assert [e["type"] for e in cut].count("error") == 1
    assert cut[-1]["status"] == 502 and cut[-1]["error"]["code"] == "stream_disconnected"
    assert "response.output_text.delta" in types(cut)
    assert again[-1]["type"] == "response.completed"


def test_an_oversized_message_gets_an_error_frame_and_the_socket_stays_open(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts, limits={"websocket-message-bytes": 4096}) as proxy, socket(proxy) as ws:
        big = turn(ws, create(input=[USER], padding="x" * 100_000))
        after = turn(ws, create(input=[USER]))
    assert big[0]["status"] == 413 and big[0]["error"]["code"] == "message_too_large"
    assert "limits.websocket-message-bytes" in big[0]["error"]["message"]
    assert after[-1]["type"] == "response.completed"
    assert len(fake.inference_requests()) == 1


def test_client_hang_up_cancels_the_upstream_request(fake: FakeCodex, accounts: Path) -> None:
    fake.default = Reply(delay=0.2)
    with proxy_for(fake, accounts) as proxy:
        with socket(proxy) as ws:
            ws.send(create(input=[USER]))
            while json.loads(ws.recv(timeout=20))["type"] != "response.output_text.delta":
                pass
        deadline = time.monotonic() + 20
        while not fake.stream_ends and time.monotonic() < deadline:
            time.sleep(0.05)
    assert fake.stream_ends == ["abandoned"]


@pytest.mark.parametrize("path", ["/v1/responses", "/backend-api/codex/responses"])
def test_a_wrong_key_is_refused_on_the_upgrade(fake: FakeCodex, accounts: Path, path: str) -> None:
    with proxy_for(fake, accounts) as proxy, pytest.raises(InvalidStatus) as refused:
        socket(proxy, path, {**CODEX_HEADERS, "authorization": "Bearer wrong"})
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body or b"")["error"]["code"] == "invalid_api_key"


def test_a_foreign_host_is_refused_in_open_mode(fake: FakeCodex, auth_dir: Path) -> None:
    with run_proxy(auth_dir, fake.url + "/backend-api/codex") as proxy:  # type: ignore[attr-defined]
        port = int(proxy.url.rsplit(":", 1)[1])
        with pytest.raises(InvalidStatus) as refused:  # a DNS name rebound to this machine
            connect(f"ws://evil.example:{port}/v1/responses", sock=create_connection(("127.0.0.1", port)),
                    open_timeout=10)
    assert refused.value.response.status_code == 403
    assert b"host_not_allowed" in (refused.value.response.body or b"")


def test_a_browser_page_is_refused(fake: FakeCodex, auth_dir: Path) -> None:
    with run_proxy(auth_dir, fake.url + "/backend-api/codex") as proxy:  # type: ignore[attr-defined]
        url = proxy.url.replace("http://", "ws://") + "/v1/responses"
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin=Origin("https://attacker.example"), open_timeout=10)
    assert refused.value.response.status_code == 403
    assert b"origin_not_allowed" in (refused.value.response.body or b"")


def test_codex_catalogue_says_websockets_are_preferred(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts) as proxy:
        catalogue = httpx.get(proxy.v1 + "/models?client_version=0.171.0", headers=CODEX_HEADERS).json()
    assert catalogue["models"] and all(model["prefer_websockets"] is True for model in catalogue["models"])


def test_a_client_keys_limit_counts_each_turn_and_answers_an_error_frame(fake: FakeCodex, accounts: Path) -> None:
    keys = {"client-keys": [{"name": "agent", "key": "sk-agent-0123456789",
                             "limits": [{"requests": 1, "per": "hour", "window": "calendar"}]}]}
    headers = {**CODEX_HEADERS, "authorization": "Bearer sk-agent-0123456789"}
    with proxy_for(fake, accounts, **keys) as proxy, socket(proxy, headers=headers) as ws:
        assert types(turn(ws, create(input=[USER])))[-1] == "response.completed"
        refused = turn(ws, create(input=[USER]))
        # Then the second turn is refused on the open socket, naming the limit, and nothing went upstream
        assert refused[-1]["type"] == "error" and refused[-1]["status"] == 429
        assert "1 requests per hour" in refused[-1]["error"]["message"]
        assert len(fake.inference_requests()) == 1
