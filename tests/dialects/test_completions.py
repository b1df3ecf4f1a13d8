"""Legacy /v1/completions: prompt → one Chat user message, answers in ``text_completion`` shape."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from cliproxy.dialects.base import TranslatedRequest
from cliproxy.dialects.completions import COMPLETIONS_DIALECT, completions_to_chat
from cliproxy.errors import ProxyError

USAGE = {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
CREATED = {
    "type": "response.created",
    "response": {"id": "resp_9", "created_at": 1700000001, "model": "gpt-5.4"},
}


def translate(body: dict[str, Any]) -> TranslatedRequest:
    return COMPLETIONS_DIALECT.translate_request(body, {})


def frames(data: bytes) -> list[Any]:
    out: list[Any] = []
    for frame in filter(None, data.split(b"\n\n")):
        assert frame.startswith(b"data: ")
        payload = frame[len(b"data: ") :]
        out.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
    return out


def user_text(req: TranslatedRequest) -> str:
    (item,) = req.body["input"]
    assert item["role"] == "user"
    return str(item["content"][0]["text"])


def test_prompt_becomes_one_user_message() -> None:
    req = translate({"model": "gpt-5.4", "prompt": "Once upon a time", "max_tokens": 5, "stream": True})

    assert user_text(req) == "Once upon a time"
    assert req.stream is True
    assert req.body["model"] == "gpt-5.4"
    assert "max_tokens" not in req.body
    assert req.body["reasoning"] == {"effort": "medium", "summary": "auto"}


@pytest.mark.parametrize("prompt", [None, ""])
def test_empty_prompt_asks_to_complete(prompt: Any) -> None:
    body = {"model": "gpt-5.4"} if prompt is None else {"model": "gpt-5.4", "prompt": prompt}

    assert user_text(translate(body)) == "Complete this:"


def test_list_of_prompts_is_joined() -> None:
    assert user_text(translate({"model": "gpt-5.4", "prompt": ["a", "b"]})) == "a\nb"


@pytest.mark.parametrize("body", [{"model": "gpt-5.4", "prompt": [1, 2, 3]}, {"prompt": "x"}, ["x"]])
def test_unusable_bodies_are_400(body: Any) -> None:
    with pytest.raises(ProxyError) as info:
        COMPLETIONS_DIALECT.translate_request(body, {})

    assert info.value.status == 400


def test_reasoning_effort_is_carried_over() -> None:
    chat = completions_to_chat({"model": "m", "prompt": "p", "reasoning_effort": "high"})

    assert chat == {"model": "m", "messages": [{"role": "user", "content": "p"}], "reasoning_effort": "high"}


def test_non_stream_answer_is_a_text_completion() -> None:
    response = {
        "id": "resp_9",
        "created_at": 1700000001,
        "model": "gpt-5.4",
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "hmm"}]},
            {"type": "message", "content": [{"type": "output_text", "text": "there was a proxy"}]},
        ],
        "usage": USAGE,
    }

    out = COMPLETIONS_DIALECT.render_response(response, translate({"model": "gpt-5.4", "prompt": "x"}))

    assert out == {
        "id": "resp_9",
        "object": "text_completion",
        "created": 1700000001,
        "model": "gpt-5.4",
        "choices": [{"index": 0, "text": "there was a proxy", "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def test_non_stream_without_text_gives_empty_text_and_length_when_cut() -> None:
    response = {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "output": []}

    choice = COMPLETIONS_DIALECT.render_response(response, translate({"model": "gpt-5.4"}))["choices"][0]

    assert choice["text"] == ""
    assert choice["finish_reason"] == "length"


def test_stream_chunks_carry_text_and_end_with_finish_reason_usage_and_done() -> None:
    translator = COMPLETIONS_DIALECT.stream_translator(translate({"model": "gpt-5.4", "prompt": "x"}))
    events: list[dict[str, Any]] = [
        {"type": "codex.rate_limits", "rate_limits": {}},
        CREATED,
        {"type": "response.reasoning_summary_text.delta", "delta": "hmm"},
        {"type": "response.reasoning_summary_text.done"},
        {"type": "response.output_text.delta", "delta": "there "},
        {"type": "response.output_text.delta", "delta": ""},
        {"type": "response.output_text.delta", "delta": "was"},
        {"type": "response.completed", "response": {"status": "completed", "usage": USAGE}},
    ]

    chunks = frames(b"".join(translator.feed(e, b"") for e in events) + translator.finish())

    assert chunks[-1] == "[DONE]"
    for chunk in chunks[:-1]:
        assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
            "resp_9",
            "text_completion",
            1700000001,
            "gpt-5.4",
        )
    assert [c["choices"][0] for c in chunks[:-1]] == [
        {"index": 0, "text": "there ", "finish_reason": None, "logprobs": None},
        {"index": 0, "text": "was", "finish_reason": None, "logprobs": None},
        {"index": 0, "text": "", "finish_reason": "stop", "logprobs": None},
    ]
    assert chunks[-2]["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_stream_failure_is_one_openai_error_chunk_without_done() -> None:
    translator = COMPLETIONS_DIALECT.stream_translator(translate({"model": "gpt-5.4", "prompt": "x"}))
    translator.feed(CREATED, b"")

    out = translator.fail(ProxyError(500, "boom")) + translator.finish()

    assert frames(out) == [
        {"error": {"message": "boom", "type": "server_error", "param": None, "code": "internal_server_error"}}
    ]


def test_dialect_table() -> None:
    assert COMPLETIONS_DIALECT.name == "completions"
    assert COMPLETIONS_DIALECT.same_family_as_codex is True
    assert (
        COMPLETIONS_DIALECT.error_body(ProxyError(429, "slow down"))["error"]["code"] == "rate_limit_exceeded"
    )
