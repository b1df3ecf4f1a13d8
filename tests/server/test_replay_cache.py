"""The reasoning replay store: per (model, session), bounded, expiring, and handing out copies."""

from __future__ import annotations

from typing import Any

import pytest

from cliproxy.server.replay_cache import ReasoningReplayCache
from tests.fakes.codex_events import BLOB

REASONING = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": BLOB}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def msg(role: str, text: str) -> dict[str, Any]:
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


def test_a_sessions_reasoning_comes_back_for_that_session_and_model_only() -> None:
    cache = ReasoningReplayCache(clock=Clock())
    cache.remember("gpt-5.4", "s1", [REASONING, msg("assistant", "Hello")])
    history = [msg("user", "hi"), msg("assistant", "Hello"), msg("user", "more")]
    assert cache.apply("gpt-5.4", "s1", history) == [history[0], REASONING, *history[1:]]
    assert cache.apply("gpt-5.4", "other", history) == history
    assert cache.apply("gpt-5.5", "s1", history) == history


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
    cache = ReasoningReplayCache(max_entries=2, clock=Clock())
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
