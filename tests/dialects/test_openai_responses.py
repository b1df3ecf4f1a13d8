"""Responses passthrough: the request rewrites and the re-framed stream."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cliproxy.dialects import openai_responses
from cliproxy.errors import ProxyError
from cliproxy.responses.output import OutputCollector
from tests.fakes import codex_events as ev
from tests.vectors import load_vector


def dotted(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def test_web_search_preview_vector() -> None:
    vector = load_vector("responses_to_codex_web_search_preview.json")
    translated = openai_responses.translate_request(vector["input"]["body"], {})
    for path, expected in vector["expected"]["assert"].items():
        assert dotted(translated.body, path) == expected, path


def test_removed_and_kept_fields() -> None:
    body = {"model": "gpt-5.4", "input": [{"role": "system", "content": "s"}], "temperature": 1,
            "max_output_tokens": 5, "truncation": "auto", "user": "u", "service_tier": "priority",
            "client_metadata": {"a": 1}, "include": ["x"], "parallel_tool_calls": False}
    out = openai_responses.translate_request(body, {}).body
    assert out["service_tier"] == "priority" and out["client_metadata"] == {"a": 1}
    assert out["include"] == ["reasoning.encrypted_content"] and out["parallel_tool_calls"] is False
    assert out["input"][0]["role"] == "developer"
    assert not {"temperature", "max_output_tokens", "truncation", "user"} & out.keys()


def test_stream_is_reframed_without_reencoding_and_codex_events_only_on_the_native_route() -> None:
    sdk = openai_responses.ResponsesStream(codex_events=False)
    codex = openai_responses.ResponsesStream(codex_events=True)
    raw = b'{"type":"response.output_text.delta","delta":"a\\u00e9"}'
    assert sdk.feed(orjson.loads(raw), raw) == b"event: response.output_text.delta\ndata: " + raw + b"\n\n"
    limits = ev.rate_limits()
    assert sdk.feed(limits, orjson.dumps(limits)) == b""
    assert codex.feed(limits, orjson.dumps(limits)).startswith(b"event: codex.rate_limits\n")


def test_codex_client_detection() -> None:
    assert openai_responses.is_codex_client({"originator": "codex_exec"})
    assert openai_responses.is_codex_client({"user-agent": "codex-tui/0.169.0"})
    assert not openai_responses.is_codex_client({"user-agent": "OpenAI/Python 2.0"})


def test_fail_is_one_error_event() -> None:
    frame = openai_responses.ResponsesStream(False).fail(ProxyError(429, "slow down", code="rate_limit_exceeded"))
    assert frame.count(b"event: error") == 1
    assert json.loads(frame.split(b"data: ")[1]) == {"type": "error", "code": "rate_limit_exceeded",
                                                      "message": "slow down", "param": None, "sequence_number": 0}


def test_output_collector_rebuilds_empty_output_in_index_order() -> None:
    collector = OutputCollector()
    events = ev.tool_stream(calls=2)
    for event in events:
        if event["type"] == "response.output_item.done":
            collector.add(event)
    completed = events[-1]
    assert collector.patch(completed)
    assert [item["call_id"] for item in completed["response"]["output"]] == ["call_1", "call_2"]
    assert not collector.patch(completed)  # already filled: left alone


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=3), max_leaves=10)


@given(st.dictionaries(st.sampled_from(["input", "tools", "tool_choice", "instructions", "service_tier",
                                        "include", "stream", "reasoning", "text"]), json_values))
def test_request_rewrite_never_raises_unexpectedly(extra: dict[str, Any]) -> None:
    try:
        out = openai_responses.translate_request({"model": "gpt-5.4", **extra}, {}).body
    except ProxyError as err:
        assert err.status == 400
        return
    assert out["store"] is False and isinstance(out["input"], list)


@given(st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=6))
def test_stream_never_raises(events: list[dict[str, Any]]) -> None:
    stream = openai_responses.ResponsesStream(codex_events=False)
    for event in events:
        frame = stream.feed(event, orjson.dumps(event))
        assert frame == b"" or frame.endswith(b"\n\n")


def test_parallel_tool_calls_defaults_to_true_when_the_client_says_nothing() -> None:
    out = openai_responses.translate_request({"model": "gpt-5.4", "input": "hi"}, {}).body
    assert out["parallel_tool_calls"] is True
