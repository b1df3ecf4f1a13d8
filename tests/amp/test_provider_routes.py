"""Amp's inference routes: served by the pool, mapped, or forwarded to ampcode.com — as Amp's SDKs see it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.amp.conftest import UPSTREAM_KEY, AmpProxy
from tests.conftest import TOKEN_A
from tests.fakes import codex_events
from tests.fakes.amp import FakeAmp
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, run_proxy, write_account
from tests.serve_process import run_configured, wait_for

USER: list[Any] = [{"role": "user", "content": "hi"}]
OPUS = "claude-opus-4-6"
MAP_OPUS = [{"from": OPUS, "to": "gpt-5.4"}]


def amp_anthropic(proxy: Proxy, key: str = "k1") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url + "/api/provider/anthropic", api_key=key, max_retries=0)


def amp_openai(proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url + "/api/provider/openai/v1", api_key="k1", max_retries=0)


def upstream(amp: FakeAmp, **more: Any) -> dict[str, Any]:
    return {"upstream-url": amp.url, "upstream-api-key": UPSTREAM_KEY, **more}


def test_a_model_the_pool_serves_is_served_here_whatever_the_provider_path(
        amp: FakeAmp, amp_proxy: AmpProxy, fake: FakeCodex) -> None:
    with amp_proxy(**upstream(amp)) as proxy:
        message = amp_anthropic(proxy).messages.create(model="gpt-5.4", max_tokens=100, messages=USER)
    assert message.model == "gpt-5.4" and message.content[0].type == "text"
    assert fake.inference_requests()[0].body["model"] == "gpt-5.4"
    assert amp.seen == []


def test_a_mapped_model_is_streamed_from_the_pool_under_the_name_amp_asked_for(
        amp: FakeAmp, amp_proxy: AmpProxy, fake: FakeCodex) -> None:
    with amp_proxy(**upstream(amp, **{"model-mappings": MAP_OPUS})) as proxy, \
            amp_anthropic(proxy).messages.stream(model=OPUS, max_tokens=100, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello"
    assert final.model == OPUS
    assert fake.inference_requests()[0].body["model"] == "gpt-5.4"
    assert amp.seen == []


def test_a_mapped_model_answered_whole_has_its_name_and_a_true_length(
        amp: FakeAmp, amp_proxy: AmpProxy, fake: FakeCodex) -> None:
    with amp_proxy(**upstream(amp, **{"model-mappings": [{"from": "gpt-4o", "to": "gpt-5.4"}]})) as proxy:
        answer = httpx.post(proxy.url + "/api/provider/openai/v1/chat/completions",
                            headers={"authorization": "Bearer k1"}, json={"model": "gpt-4o", "messages": USER})
    assert answer.status_code == 200
    assert answer.json()["model"] == "gpt-4o"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert fake.inference_requests()[0].body["model"] == "gpt-5.4"


def test_a_mapped_responses_stream_names_the_model_amp_asked_for(
        amp: FakeAmp, amp_proxy: AmpProxy, fake: FakeCodex) -> None:
    mappings = [{"from": "gpt-5.4-amp", "to": "gpt-5.4"}]
    with amp_proxy(**upstream(amp, **{"model-mappings": mappings})) as proxy:
        events = list(amp_openai(proxy).responses.create(model="gpt-5.4-amp", input="hi", stream=True))
    named = {event.type: event.response.model for event in events if hasattr(event, "response")}
    assert named["response.created"] == named["response.completed"] == "gpt-5.4-amp"
    assert fake.inference_requests()[0].body["model"] == "gpt-5.4"


def test_an_unmapped_model_is_forwarded_visibly(amp: FakeAmp, amp_proxy: AmpProxy, fake: FakeCodex,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = {"model": OPUS, "max_tokens": 10, "stream": True, "messages": USER}
    with amp_proxy(**upstream(amp)) as proxy:
        answer = httpx.post(proxy.url + "/api/provider/anthropic/v1/messages",
                            headers={"x-api-key": "k1", "anthropic-beta": "context-1m-2025-08-07"}, json=body)
    assert answer.status_code == 200
    assert answer.headers["x-cliproxy-served-by"] == "ampcode.com"
    assert f'"model": "{OPUS}"' in answer.text  # ampcode.com's own stream, passed as it came
    seen = amp.seen[0]
    assert (seen.method, seen.path) == ("POST", "/api/provider/anthropic/v1/messages")
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}" and seen.headers["x-api-key"] == UPSTREAM_KEY
    assert seen.headers["anthropic-beta"] == "context-1m-2025-08-07"  # Amp's service offers it
    assert seen.json() == body
    assert fake.inference_requests() == []
    lines = [r.getMessage() for r in caplog.records if "ampcode.com" in r.getMessage()]
    assert len(lines) == 1 and OPUS in lines[0] and "Amp credits" in lines[0]


def test_fallback_off_refuses_in_the_clients_dialect_naming_the_mapping(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    with amp_proxy(**upstream(amp, fallback=False)) as proxy, pytest.raises(anthropic.NotFoundError) as refused:
        amp_anthropic(proxy).messages.create(model=OPUS, max_tokens=10, messages=USER)
    error = refused.value.body["error"]  # type: ignore[index]
    assert error["type"] == "not_found_error"
    assert OPUS in error["message"] and "ampcode.fallback: false" in error["message"]
    assert f'model-mappings: [{{from: "{OPUS}", to: "gpt-5.5"}}]' in error["message"]
    assert amp.seen == []


def test_without_an_upstream_an_unknown_model_is_refused_with_the_way_to_serve_it(amp_proxy: AmpProxy) -> None:
    with amp_proxy() as proxy, pytest.raises(anthropic.NotFoundError) as refused:
        amp_anthropic(proxy).messages.create(model=OPUS, max_tokens=10, messages=USER)
    assert "ampcode.upstream-url" in str(refused.value) and "model-mappings" in str(refused.value)


def test_mappings_apply_only_when_the_pool_lacks_the_model_unless_forced(
        amp: FakeAmp, amp_proxy: AmpProxy, fake: FakeCodex) -> None:
    mappings = [{"from": "gpt-5.4", "to": "gpt-5.5"}]
    for force, sent in ((False, "gpt-5.4"), (True, "gpt-5.5")):
        with amp_proxy(**upstream(amp, **{"model-mappings": mappings, "force-model-mappings": force})) as proxy:
            message = amp_anthropic(proxy).messages.create(model="gpt-5.4", max_tokens=10, messages=USER)
        assert fake.inference_requests()[-1].body["model"] == sent
        assert message.model == "gpt-5.4"


def test_a_mapping_to_a_model_the_pool_lacks_is_no_mapping(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    with amp_proxy(**upstream(amp, **{"model-mappings": [{"from": OPUS, "to": "not-a-model"}]})) as proxy:
        answer = httpx.post(proxy.url + "/api/provider/anthropic/v1/messages", headers={"x-api-key": "k1"},
                            json={"model": OPUS, "max_tokens": 10, "messages": USER})
    assert answer.headers["x-cliproxy-served-by"] == "ampcode.com"
    assert amp.paths() == ["/api/provider/anthropic/v1/messages"]


def test_a_thinking_suffix_is_carried_onto_the_mapped_model(amp: FakeAmp, amp_proxy: AmpProxy, fake: FakeCodex) -> None:
    with amp_proxy(**upstream(amp, **{"model-mappings": [{"from": "alias", "to": "gpt-5.4"}]})) as proxy:
        message = amp_anthropic(proxy).messages.create(model="alias(high)", max_tokens=10, messages=USER)
    sent = fake.inference_requests()[0].body
    assert sent["model"] == "gpt-5.4" and sent["reasoning"]["effort"] == "high"
    assert message.model == "alias(high)"


def test_no_model_gets_the_local_handlers_answer(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    with amp_proxy(**upstream(amp)) as proxy:
        answer = httpx.post(proxy.url + "/api/provider/openai/v1/chat/completions",
                            headers={"authorization": "Bearer k1"}, json={})
    assert answer.status_code == 400 and "error" in answer.json()
    assert amp.seen == []


def test_unsigned_thinking_and_tool_use_signatures_are_cleaned_before_forwarding(
        amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    huge = 12345678901234567890
    assistant = [{"type": "thinking", "thinking": "a", "signature": "   "},
                 {"type": "thinking", "thinking": "b", "signature": 123},
                 {"type": "thinking", "thinking": "c", "signature": "valid"},
                 {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"n": huge}, "signature": ""},
                 {"type": "text", "text": "done"}]
    body = {"model": OPUS, "max_tokens": 10, "messages": [*USER, {"role": "assistant", "content": assistant}]}
    with amp_proxy(**upstream(amp)) as proxy:
        httpx.post(proxy.url + "/api/provider/anthropic/v1/messages", headers={"x-api-key": "k1"},
                   content=json.dumps(body))
    seen = amp.seen[0]
    assert int(seen.headers["content-length"]) == len(seen.body)
    kept = seen.json()["messages"][1]["content"]
    assert [block["type"] for block in kept] == ["thinking", "tool_use", "text"]
    assert kept[0]["signature"] == "valid" and "signature" not in kept[1]
    assert kept[1]["input"]["n"] == huge


def test_model_lists_come_in_the_providers_shape_from_the_pool(amp: FakeAmp, amp_proxy: AmpProxy) -> None:
    with amp_proxy(**upstream(amp)) as proxy:
        def get(path: str) -> Any:
            return httpx.get(proxy.url + path, headers={"authorization": "Bearer k1"}).json()

        assert get("/api/provider/anthropic/v1/models")["data"][0]["type"] == "model"
        assert "models" in get("/api/provider/google/v1/models")
        assert "models" in get("/api/provider/google/v1beta/models")
        assert get("/api/provider/groq/models")["object"] == "list"
    assert amp.seen == []


def test_gemini_calls_are_served_here_and_through_the_v1beta1_bridge(
        amp: FakeAmp, amp_proxy: AmpProxy, fake: FakeCodex) -> None:
    mappings = [{"from": "gemini-3-pro-preview", "to": "gpt-5.4"}]
    headers = {"x-goog-api-key": "k1"}
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    bridge = "/api/provider/google/v1beta1/publishers/google/models/gemini-3-pro-preview:streamGenerateContent"
    with amp_proxy(**upstream(amp, **{"model-mappings": mappings})) as proxy:
        plain = httpx.post(proxy.url + "/api/provider/google/v1beta/models/gpt-5.4:generateContent",
                           headers=headers, json=body)
        streamed = httpx.post(proxy.url + bridge + "?alt=sse", headers=headers, json=body)
        unknown = httpx.post(proxy.url + bridge.replace("gemini-3-pro-preview", "gemini-x") + "?alt=sse",
                             headers=headers, json=body)
    assert plain.status_code == 200 and plain.json()["modelVersion"] == "gpt-5.4"
    chunks = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert chunks and all(chunk["modelVersion"] == "gemini-3-pro-preview" for chunk in chunks)
    assert [r.body["model"] for r in fake.inference_requests()] == ["gpt-5.4", "gpt-5.4"]
    assert unknown.headers["x-cliproxy-served-by"] == "ampcode.com"
    assert [(s.path, s.query) for s in amp.seen] == [(bridge.replace("gemini-3-pro-preview", "gemini-x"), "alt=sse")]


def test_the_1m_context_beta_is_dropped_only_for_answers_served_here(tmp_path: Path, fake: FakeCodex,
                                                                      amp: FakeAmp) -> None:
    betas = "fine-grained-tool-streaming-2025-05-14, context-1m-2025-08-07 , oauth-2025-04-20"
    config = f"api-keys: [k1]\nrequest-log: true\nampcode:\n  upstream-url: {amp.url}\n"
    write_account(tmp_path / "auth", "a", TOKEN_A, "acc-1")
    with run_configured(tmp_path, fake.url + "/backend-api/codex", config) as proxy:  # type: ignore[attr-defined]
        for beta, model in ((betas, "gpt-5.4"), ("context-1m-2025-08-07", "gpt-5.5"), (betas, OPUS)):
            httpx.post(proxy.url + "/api/provider/anthropic/v1/messages",
                       headers={"x-api-key": "k1", "anthropic-beta": beta},
                       json={"model": model, "max_tokens": 10, "messages": USER})
        logs = tmp_path / "conf" / "logs"

        def written() -> list[str]:
            texts = [path.read_text() for path in logs.glob("request-*.log")]
            return texts if len(texts) == 2 and all("=== RESPONSE ===" in text for text in texts) else []

        texts = wait_for(written, "both request logs")
    seen_here = {("gpt-5.5" if '"model": "gpt-5.5"' in text else "gpt-5.4"): text for text in texts}
    assert "anthropic-beta: fine-grained-tool-streaming-2025-05-14,oauth-2025-04-20\n" in seen_here["gpt-5.4"]
    assert "anthropic-beta" not in seen_here["gpt-5.5"]
    assert [s.headers["anthropic-beta"] for s in amp.seen] == [betas]  # ampcode.com gets it as sent


def test_an_answer_over_the_rewrite_bound_arrives_whole(amp: FakeAmp, amp_proxy: AmpProxy, fake: FakeCodex) -> None:
    parts = [letter * (512 * 1024) for letter in "abcdef"]  # 3 MiB, past the 2 MiB rewrite bound
    fake.script(TOKEN_A, Reply(events=codex_events.text_stream(parts)))
    with amp_proxy(**upstream(amp, **{"model-mappings": [{"from": "gpt-4o", "to": "gpt-5.4"}]})) as proxy:
        answer = httpx.post(proxy.url + "/api/provider/openai/v1/chat/completions",
                            headers={"authorization": "Bearer k1"}, json={"model": "gpt-4o", "messages": USER})
    assert answer.status_code == 200 and int(answer.headers["content-length"]) == len(answer.content)
    assert answer.json()["choices"][0]["message"]["content"] == "".join(parts)
    assert amp.seen == []


def test_an_error_about_a_mapped_model_names_the_model_amp_asked_for(
        amp: FakeAmp, amp_proxy: AmpProxy, fake: FakeCodex) -> None:
    refused = Reply(status=400, body={"error": {"message": "Invalid value for 'tools' with gpt-5.4.",
                                                "type": "invalid_request_error"}})
    failed = {"type": "response.failed", "response": {"id": "resp_1", "status": "failed", "model": "gpt-5.4",
                                                      "error": {"code": "server_error", "message": "it broke"}}}
    with amp_proxy(**upstream(amp, **{"model-mappings": MAP_OPUS})) as proxy:
        fake.script(TOKEN_A, refused)
        with pytest.raises(anthropic.BadRequestError) as whole:
            amp_anthropic(proxy).messages.create(model=OPUS, max_tokens=10, messages=USER)
        fake.script(TOKEN_A, Reply(events=[*codex_events.preamble(), *codex_events.message_events(["He"]), failed]))
        events = list(amp_openai(proxy).responses.create(model=OPUS, input="hi", stream=True))
        fake.script(TOKEN_A, refused)
        with pytest.raises(anthropic.BadRequestError) as unmapped:
            amp_anthropic(proxy).messages.create(model="gpt-5.4", max_tokens=10, messages=USER)
    message = whole.value.body["error"]["message"]  # type: ignore[index]
    assert message == f"{OPUS} (mapped to gpt-5.4): Invalid value for 'tools' with gpt-5.4."
    streamed = [event.message for event in events if event.type == "error"]
    assert streamed == [f"{OPUS} (mapped to gpt-5.4): it broke"]
    assert unmapped.value.body["error"]["message"] == "Invalid value for 'tools' with gpt-5.4."  # type: ignore[index]
    assert amp.seen == []


def test_a_client_keys_request_limit_applies_on_amps_routes(amp: FakeAmp, fake: FakeCodex, auth_dir: Path) -> None:
    keys = [{"name": "amp-user", "key": "sk-amp-1", "limits": [{"requests": 1, "per": "hour"}]}]
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **{  # type: ignore[attr-defined]
            "client-keys": keys, "ampcode": upstream(amp, **{"model-mappings": MAP_OPUS})}) as proxy:
        first = amp_anthropic(proxy, "sk-amp-1").messages.create(model=OPUS, max_tokens=10, messages=USER)
        with pytest.raises(anthropic.RateLimitError) as limited:
            amp_anthropic(proxy, "sk-amp-1").messages.create(model=OPUS, max_tokens=10, messages=USER)
    assert first.model == OPUS
    body = limited.value.body
    assert isinstance(body, dict) and body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "amp-user" in body["error"]["message"]
    assert limited.value.response.headers.get("retry-after")
    assert len(fake.inference_requests()) == 1 and amp.seen == []


def test_a_client_keys_rules_and_limits_hold_for_what_is_forwarded(amp: FakeAmp, fake: FakeCodex,
                                                                    auth_dir: Path) -> None:
    """A forward spends the Amp credits of the proxy's owner: a key may not spend more of them than
    its rules and limits allow it of the pool."""
    keys = [{"name": "pool-only", "key": "sk-pool", "models": ["gpt-5.4"]},
            {"name": "one-an-hour", "key": "sk-one", "limits": [{"requests": 1, "per": "hour"}]}]
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **{  # type: ignore[attr-defined]
            "client-keys": keys, "ampcode": upstream(amp)}) as proxy:
        with pytest.raises(anthropic.PermissionDeniedError) as refused:
            amp_anthropic(proxy, "sk-pool").messages.create(model=OPUS, max_tokens=10, messages=USER)
        forwarded = httpx.post(proxy.url + "/api/provider/anthropic/v1/messages", headers={"x-api-key": "sk-one"},
                               json={"model": OPUS, "max_tokens": 10, "messages": USER})
        with pytest.raises(anthropic.RateLimitError):
            amp_anthropic(proxy, "sk-one").messages.create(model=OPUS, max_tokens=10, messages=USER)
    assert OPUS in str(refused.value) and "pool-only" in str(refused.value)
    assert forwarded.headers["x-cliproxy-served-by"] == "ampcode.com"
    assert len(amp.seen) == 1
