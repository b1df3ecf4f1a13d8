"""A CLIProxyAPI user's ``payload`` rules and ``passthrough-headers``, seen at the backend and by the SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, run_proxy

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]

# The rules of CLIProxyAPI's config.example.yaml that concern Codex, with a filter and a Claude-only rule.
PAYLOAD: dict[str, Any] = {
    "override": [{"models": [{"name": "gpt-5.4-fast", "protocol": "codex"},
                             {"name": "gpt-5.5-fast", "protocol": "codex"}],
                  "params": {"service_tier": "priority"}},
                 {"models": [{"name": "gpt-*", "protocol": "codex"}], "params": {"reasoning.effort": "high"}}],
    "override-raw": [{"models": [{"name": "gpt-*", "protocol": "codex"}],
                      "params": {"text.format": '{"type":"json_schema","name":"answer","schema":{"type":"object"}}'}}],
    "default": [{"models": [{"name": "*", "from-protocol": "claude"}], "params": {"text.verbosity": "low"}}],
    "filter": [{"models": [{"name": "gpt-*", "headers": {"X-Client-Tier": "tenant-*"}}],
                "params": ["prompt_cache_key"]}],
}



def backend(fake: FakeCodex) -> str:
    return str(fake.url) + "/backend-api/codex"  # type: ignore[attr-defined]

@pytest.fixture
def proxy(fake: FakeCodex, auth_dir: Path) -> Iterator[Proxy]:
    config = {"api-keys": ["sk-local-1"], "payload": PAYLOAD, "passthrough-headers": True}
    with run_proxy(auth_dir, backend(fake), **config) as running:
        yield running


def test_override_rules_reach_the_backend_for_a_chat_client(proxy: Proxy, fake: FakeCodex) -> None:
    client = openai.OpenAI(base_url=proxy.v1, api_key="sk-local-1", max_retries=0)
    client.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
    body = fake.inference_requests()[-1].body
    assert body["reasoning"]["effort"] == "high"
    assert body["text"]["format"] == {"type": "json_schema", "name": "answer", "schema": {"type": "object"}}
    assert "service_tier" not in body and "verbosity" not in body.get("text", {})
    assert "prompt_cache_key" in body  # no X-Client-Tier header: the filter did not apply


def test_header_and_dialect_conditions_choose_their_clients(proxy: Proxy, fake: FakeCodex) -> None:
    client = openai.OpenAI(base_url=proxy.v1, api_key="sk-local-1", max_retries=0,
                           default_headers={"X-Client-Tier": "tenant-42"})
    client.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
    assert "prompt_cache_key" not in fake.inference_requests()[-1].body
    claude = anthropic.Anthropic(base_url=proxy.url, api_key="sk-local-1", max_retries=0)
    claude.messages.create(model="gpt-5.4", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert fake.inference_requests()[-1].body["text"]["verbosity"] == "low"


def test_passthrough_headers_forward_the_backends_but_never_a_cookie(proxy: Proxy, fake: FakeCodex) -> None:
    fake.default = Reply(headers={"x-openai-model": "gpt-5.4-2026", "set-cookie": "session=secret",
                                  "x-litellm-call-id": "g1", "openai-processing-ms": "42"})
    client = openai.OpenAI(base_url=proxy.v1, api_key="sk-local-1", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="gpt-5.4", messages=HI)
    assert raw.headers["x-openai-model"] == "gpt-5.4-2026" and raw.headers["openai-processing-ms"] == "42"
    assert "set-cookie" not in raw.headers and "x-litellm-call-id" not in raw.headers
    with client.chat.completions.with_streaming_response.create(
            model="gpt-5.4", messages=[{"role": "user", "content": "hi"}], stream=True) as streamed:
        assert streamed.headers["x-openai-model"] == "gpt-5.4-2026"
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert "set-cookie" not in streamed.headers
        list(streamed.iter_lines())


def test_passthrough_headers_off_forwards_nothing(fake: FakeCodex, auth_dir: Path) -> None:
    fake.default = Reply(headers={"x-openai-model": "gpt-5.4-2026"})
    with run_proxy(auth_dir, backend(fake), **{"api-keys": ["sk-local-1"]}) as proxy:
        client = openai.OpenAI(base_url=proxy.v1, api_key="sk-local-1", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="gpt-5.4", messages=HI)
    assert "x-openai-model" not in raw.headers
