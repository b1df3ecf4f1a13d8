"""The backend's own WebSocket behind a client's socket: the ``websockets`` client against the real server,
the fake Codex backend speaking both WebSocket and SSE, two ChatGPT accounts in the pool."""

from __future__ import annotations

import time
from pathlib import Path

from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.server.websocket.test_responses_socket import (
    CODEX_HEADERS,
    DEVELOPER,
    TOOL_OUTPUT,
    USER,
    create,
    proxy_for,
    socket,
    turn,
    types,
)

OTHER = {"tok-a": "tok-b", "tok-b": "tok-a"}


def token_of(fake: FakeCodex) -> str:
    """The account the first socket was opened with."""
    return fake.socket_frames()[0].headers["authorization"][7:]


def test_a_tool_round_trip_sends_only_the_new_output_on_the_pinned_socket(fake: FakeCodex, accounts: Path) -> None:
    fake.default = Reply(events=ev.tool_stream())
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        first = turn(ws, create(input=[DEVELOPER, USER]))
        fake.default = Reply()
        second = turn(ws, create(previous_response_id=first[-1]["response"]["id"], input=[TOOL_OUTPUT]))
    assert second[-1]["type"] == "response.completed"
    frames = fake.socket_frames()
    assert [frame.body["input"] for frame in frames] == [[DEVELOPER, USER], [TOOL_OUTPUT]]
    assert frames[1].body["previous_response_id"] == "resp_1" and frames[1].body["type"] == "response.create"
    assert {frame.connection for frame in frames} == {1}
    assert fake.http_requests() == []


def test_a_socket_dropped_before_content_is_served_over_http_by_the_other_account(
        fake: FakeCodex, accounts: Path) -> None:
    fake.default = Reply(events=ev.tool_stream())
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        first = turn(ws, create(input=[DEVELOPER, USER]))
        pinned = token_of(fake)
        fake.script(pinned, Reply(cut_after=0))
        fake.default = Reply()
        second = turn(ws, create(previous_response_id=first[-1]["response"]["id"], input=[TOOL_OUTPUT]))
        pool = proxy.services.runner.pool
        resting = [c.id for c in pool.credentials() if pool.blocked_until(c, "gpt-5.4", time.time()) > time.time()]
    assert types(second)[-1] == "response.completed" and "error" not in types(second)
    [over_http] = fake.http_requests()
    call = next(e["item"] for e in first if e["type"] == "response.output_item.done")
    assert over_http.headers["authorization"] == f"Bearer {OTHER[pinned]}"
    assert over_http.body["input"] == [DEVELOPER, USER, call, TOOL_OUTPUT]
    assert resting == []  # a dropped socket is the network's failure, never the account's


def test_a_socket_dropped_after_content_is_one_error_frame_and_the_client_socket_serves_on(
        fake: FakeCodex, accounts: Path) -> None:
    fake.default = Reply(cut_after=len(ev.preamble()) + 4)
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        cut = turn(ws, create(input=[USER]))
        fake.default = Reply()
        again = turn(ws, create(input=[USER]))
    assert types(cut).count("error") == 1 and "response.output_text.delta" in types(cut)
    assert cut[-1]["status"] == 502 and cut[-1]["error"]["code"] == "stream_disconnected"
    assert again[-1]["type"] == "response.completed"
    assert [frame.connection for frame in fake.socket_frames()] == [1, 2]  # a fresh socket for the next turn


def test_an_account_refused_on_the_handshake_fails_over_to_http(fake: FakeCodex, accounts: Path) -> None:
    quota = Reply(status=429, body={"error": {"type": "usage_limit_reached", "message": "limit reached",
                                              "resets_in_seconds": 3600}})
    fake.refuse_socket("tok-a", quota)
    fake.refuse_socket("tok-b", quota)
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        events = turn(ws, create(input=[USER]))
        pool = proxy.services.runner.pool
        resting = [c.email for c in pool.credentials() if pool.blocked_until(c, "gpt-5.4", time.time()) > time.time()]
    assert events[-1]["type"] == "response.completed"
    [(refused, status)] = fake.handshakes
    [over_http] = fake.http_requests()
    assert status == 429 and over_http.headers["authorization"] == f"Bearer {OTHER[refused]}"
    assert resting == [f"{refused[-1]}@example.com"]  # a spent quota is the account's: it rests


def test_prewarm_goes_upstream_on_an_open_socket(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts) as proxy, socket(proxy) as ws:
        turn(ws, create(input=[DEVELOPER, USER]))
        fake.default = Reply(events=[*ev.preamble(response_id="resp_warm"), ev.completed(response_id="resp_warm")])
        prewarm = turn(ws, create(generate=False, input=[DEVELOPER]))
        fake.default = Reply()
        follow = turn(ws, create(previous_response_id="resp_warm", input=[USER]))
    assert types(prewarm) == ["response.created", "response.in_progress", "response.completed"]
    frames = fake.socket_frames()
    assert frames[1].body["generate"] is False and frames[1].body["input"] == [DEVELOPER]
    assert frames[2].body["previous_response_id"] == "resp_warm" and frames[2].body["input"] == [USER]
    assert follow[-1]["type"] == "response.completed"


def test_turn_state_and_metadata_headers_reach_the_backends_handshake(fake: FakeCodex, accounts: Path) -> None:
    headers = {**CODEX_HEADERS, "x-codex-turn-state": "ts-42", "x-codex-turn-metadata": '{"turn_id":"t1"}',
               "x-client-request-id": "req-9", "openai-beta": "responses_websockets=2026-02-06"}
    with proxy_for(fake, accounts) as proxy, socket(proxy, headers=headers) as ws:
        turn(ws, create(input=[USER]))
    sent = fake.socket_frames()[0].headers
    assert sent["x-codex-turn-state"] == "ts-42" and sent["x-codex-turn-metadata"] == '{"turn_id":"t1"}'
    assert sent["x-client-request-id"] == "req-9" and sent["openai-beta"] == "responses_websockets=2026-02-06"
    assert sent["authorization"] in ("Bearer tok-a", "Bearer tok-b")  # the account's, never the client key
    assert sent["chatgpt-account-id"] in ("acc-1", "acc-2")
