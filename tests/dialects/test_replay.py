"""Reasoning replay: what is kept from a turn and where it goes back."""

from __future__ import annotations

from typing import Any

from cliproxy.dialects.anthropic.replay import replay, replayable_items
from tests.dialects.anthropic_helpers import BLOB, make_blob

REASONING = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": BLOB}


def msg(role: str, text: str) -> dict[str, Any]:
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


def call(call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "Bash", "arguments": "{}"}


def output(call_id: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": "ok"}


def next_turn(previous_output: list[dict[str, Any]], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return replay(history, replayable_items(previous_output))


def test_reasoning_goes_back_before_the_previous_answer() -> None:
    history = [msg("developer", "rules"), msg("user", "hi"), msg("assistant", "Hello"), msg("user", "more")]
    assert next_turn([REASONING, msg("assistant", "Hello")], history) == [*history[:2], REASONING, *history[2:]]


def test_reasoning_goes_before_the_previous_tool_calls() -> None:
    history = [msg("user", "go"), call("call_1"), call("call_2"), output("call_1"), output("call_2")]
    assert next_turn([REASONING, call("call_1"), call("call_2")], history) == [history[0], REASONING, *history[1:]]


def test_nothing_is_inserted_when_the_history_already_has_valid_reasoning() -> None:
    own = {"type": "reasoning", "summary": [], "encrypted_content": make_blob(seed=3)}
    history = [msg("user", "hi"), own, msg("assistant", "x")]
    assert next_turn([REASONING, msg("assistant", "x")], history) == history


def test_without_an_anchor_reasoning_is_not_guessed_into_place() -> None:
    history = [msg("user", "only a user turn")]
    assert next_turn([REASONING], history) == history


def test_a_missing_call_with_its_output_present_is_restored_under_the_outputs_id() -> None:
    # Claude Code saw ``call_1`` (sanitised) and answered it, but its history lost the call itself.
    history = [msg("user", "go"), output("call_1"), msg("user", "next")]
    restored = next_turn([REASONING, call("call:1"), call("call_2")], history)
    assert restored == [history[0], REASONING, call("call_1"), *history[1:]]


def test_only_reasoning_and_calls_are_kept_and_nothing_without_reasoning() -> None:
    assert replayable_items([msg("assistant", "x"), call("call_1")]) == []
    assert replayable_items([{"type": "reasoning", "encrypted_content": "not-a-blob"}, msg("assistant", "x")]) == []
    kept = replayable_items([REASONING, msg("assistant", "x"), call("call_1"), {"type": "web_search_call"}])
    assert kept == [REASONING, call("call_1")]
    assert replayable_items(None) == []


def test_kept_items_are_copies() -> None:
    item = dict(REASONING)
    kept = replayable_items([item])
    item["encrypted_content"] = "changed"
    assert kept == [REASONING]


def test_replay_keeps_calls_before_their_outputs() -> None:
    history = [msg("user", "go"), output("call_1"), msg("assistant", "done")]
    merged = replay(history, [REASONING, call("call_1")])
    assert [i["type"] for i in merged] == [
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "message",
    ]
