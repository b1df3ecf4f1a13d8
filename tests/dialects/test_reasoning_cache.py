"""The reasoning replay cache (proxy.md §4.5.4): what comes back, where, and for how long."""

from __future__ import annotations

from typing import Any

import pytest

from cliproxy.dialects.anthropic.reasoning_cache import ReasoningReplayCache, replay
from tests.dialects.anthropic_helpers import BLOB, make_blob

REASONING = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": BLOB}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def msg(role: str, text: str) -> dict[str, Any]:
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


def call(call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "Bash", "arguments": "{}"}


def output(call_id: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": "ok"}


def test_reasoning_goes_back_before_the_previous_answer() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    cache.remember("gpt-5.4", "s1", [REASONING, msg("assistant", "Hello")])
    history = [msg("developer", "rules"), msg("user", "hi"), msg("assistant", "Hello"), msg("user", "more")]
    assert cache.apply("gpt-5.4", "s1", history) == [*history[:2], REASONING, *history[2:]]
    assert cache.apply("gpt-5.4", "other", history) == history
    assert cache.apply("gpt-5.5", "s1", history) == history


def test_reasoning_goes_before_the_previous_tool_calls() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    cache.remember("m", "s", [REASONING, call("call_1"), call("call_2")])
    history = [msg("user", "go"), call("call_1"), call("call_2"), output("call_1"), output("call_2")]
    assert cache.apply("m", "s", history) == [history[0], REASONING, *history[1:]]


def test_nothing_is_inserted_when_the_history_already_has_valid_reasoning() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    cache.remember("m", "s", [REASONING, msg("assistant", "x")])
    own = {"type": "reasoning", "summary": [], "encrypted_content": make_blob(seed=3)}
    history = [msg("user", "hi"), own, msg("assistant", "x")]
    assert cache.apply("m", "s", history) == history


def test_without_an_anchor_reasoning_is_not_guessed_into_place() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    cache.remember("m", "s", [REASONING])
    history = [msg("user", "only a user turn")]
    assert cache.apply("m", "s", history) == history


def test_a_missing_call_with_its_output_present_is_restored_under_the_outputs_id() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    cache.remember("m", "s", [REASONING, call("call:1"), call("call_2")])
    # Claude Code saw ``call_1`` (sanitised) and answered it, but its history lost the call itself.
    history = [msg("user", "go"), output("call_1"), msg("user", "next")]
    restored = cache.apply("m", "s", history)
    assert restored == [history[0], REASONING, {**call("call_1")}, *history[1:]]


def test_only_reasoning_and_calls_are_kept_and_nothing_without_reasoning() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    cache.remember("m", "s", [msg("assistant", "x"), call("call_1")])
    assert cache.get("m", "s") is None
    bad = {"type": "reasoning", "encrypted_content": "not-a-blob"}
    cache.remember("m", "s", [bad, msg("assistant", "x")])
    assert cache.get("m", "s") is None
    cache.remember("m", "s", [REASONING, msg("assistant", "x"), call("call_1"), {"type": "web_search_call"}])
    assert cache.get("m", "s") == [REASONING, call("call_1")]


def test_a_later_turn_without_reasoning_drops_the_stale_entry() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    cache.remember("m", "s", [REASONING, msg("assistant", "x")])
    cache.remember("m", "s", [msg("assistant", "y")])
    assert cache.get("m", "s") is None and len(cache) == 0


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = ReasoningReplayCache(ttl=60, clock=clock)
    cache.remember("m", "s", [REASONING])
    clock.now += 59
    assert cache.get("m", "s") is not None
    clock.now += 2
    assert cache.get("m", "s") is None and len(cache) == 0


def test_size_is_bounded_least_recently_used_first() -> None:
    clock = Clock()
    cache = ReasoningReplayCache(max_entries=2, clock=clock)
    cache.remember("m", "a", [REASONING])
    cache.remember("m", "b", [REASONING])
    assert cache.get("m", "a") is not None  # a is now the most recently used
    cache.remember("m", "c", [REASONING])
    assert len(cache) == 2
    assert cache.get("m", "b") is None
    assert cache.get("m", "a") is not None and cache.get("m", "c") is not None


def test_expired_entries_are_swept_when_new_ones_arrive() -> None:
    clock = Clock()
    cache = ReasoningReplayCache(ttl=10, clock=clock)
    for session in "abc":
        cache.remember("m", session, [REASONING])
    clock.now += 11
    cache.remember("m", "d", [REASONING])
    assert len(cache) == 1


def test_forget_after_a_signature_rejection() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    cache.remember("m", "s", [REASONING])
    cache.forget("m", "s")
    cache.forget("m", "never")
    assert cache.get("m", "s") is None


def test_cached_items_are_copies() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    item = dict(REASONING)
    cache.remember("m", "s", [item])
    item["encrypted_content"] = "changed"
    got = cache.get("m", "s")
    assert got is not None
    got[0]["encrypted_content"] = "also changed"
    assert cache.get("m", "s") == [REASONING]


def test_no_session_no_cache() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    cache.remember("m", "", [REASONING])
    assert len(cache) == 0
    assert cache.apply("m", "", [msg("assistant", "x")]) == [msg("assistant", "x")]


@pytest.mark.parametrize(("entries", "ttl"), [(0, 10), (5, 0)])
def test_bounds_must_be_positive(entries: int, ttl: float) -> None:
    with pytest.raises(ValueError):
        ReasoningReplayCache(max_entries=entries, ttl=ttl)


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
