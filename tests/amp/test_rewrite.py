"""Answers served here, rewritten for Amp: model names, signatures, tool casing, split stream lines."""

from __future__ import annotations

import json
from typing import Any

from cliproxy.amp.rewrite import Rewriter, StreamRewriter, request_tools

LIMIT = 1 << 21


def rewriter(tools: list[str] | None = None, model: str = "claude-opus-4-6") -> Rewriter:
    return Rewriter(model, request_tools({"tools": [{"name": n} for n in tools or []]}), suppress_thinking=True)


def rewritten(value: dict[str, Any], tools: list[str] | None = None) -> Any:
    return json.loads(rewriter(tools).body(json.dumps(value).encode(), LIMIT))


def test_a_whole_answer_drops_thinking_beside_a_tool_call_and_signs_what_is_left() -> None:
    answer = rewritten({"model": "gpt-5.2", "content": [{"type": "thinking", "thinking": "x"},
                                                        {"type": "tool_use", "name": "bash", "input": {}}]})
    assert answer["model"] == "claude-opus-4-6"
    assert answer["content"] == [{"type": "tool_use", "name": "Bash", "input": {}, "signature": ""}]
    alone = rewritten({"content": [{"type": "thinking", "thinking": "x"}]})
    assert alone["content"] == [{"type": "thinking", "thinking": "x", "signature": ""}]


def test_tool_names_take_the_casing_the_request_used_when_it_used_one() -> None:
    def name(tools: list[str]) -> str:
        answer = rewritten({"content": [{"type": "tool_use", "name": "glob", "input": {}}]}, tools)
        return str(answer["content"][0]["name"])

    assert name(["Glob"]) == "Glob"
    assert name(["glob"]) == "glob"
    assert name(["Glob", "glob"]) == "glob"
    assert rewritten({"content": [{"type": "tool_use", "name": "edit_file"}]})["content"][0]["name"] == "edit_file"


def test_a_stream_keeps_thinking_and_signs_each_block() -> None:
    events: list[dict[str, Any]] = [{"type": "message_start", "message": {"model": "gpt-5.2", "content": []}},
              {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
              {"type": "content_block_stop", "index": 0},
              {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "name": "bash"}}]
    stream = StreamRewriter(rewriter(), LIMIT)
    raw = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    out = stream.feed(raw) + stream.finish()
    got = [json.loads(line[6:]) for line in out.decode().splitlines() if line.startswith("data: ")]
    assert got[0]["message"]["model"] == "claude-opus-4-6"
    assert got[1]["content_block"]["signature"] == "" and got[3]["content_block"] == {
        "type": "tool_use", "name": "Bash", "signature": ""}
    assert out.count(b"event: ") == 4 and out.endswith(b"\n\n")


def test_a_line_split_across_reads_is_rewritten_once_and_whole() -> None:
    line = b'data: {"type":"response.created","response":{"model":"gpt-5.2"}}\n\n'
    stream = StreamRewriter(rewriter(model="alias"), LIMIT)
    out = stream.feed(line[:30]) + stream.feed(line[30:]) + stream.finish()
    assert out == b'data: {"type":"response.created","response":{"model":"alias"}}\n\n'


def test_an_endless_line_passes_unchanged_once_over_the_bound() -> None:
    stream = StreamRewriter(rewriter(), 16)
    chunk = b'data: {"model":"gpt-5.2","pad":"' + b"x" * 32
    assert stream.feed(chunk) == chunk
    assert stream.feed(b'"}\n') == b'"}\n'
