"""The upstream SSE splitter: same events however the bytes are cut, CRLF or LF, comments skipped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cliproxy.errors import ProxyError
from cliproxy.responses.reader import SSESplitter, read_batches
from tests.fakes import codex_events as ev


def wire(events: list[dict], newline: bytes = b"\n") -> bytes:  # type: ignore[type-arg]
    out = b": hello" + newline + newline
    for event in events:
        frame = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
        out += frame.replace(b"\n", newline)
    return out


async def chunks(data: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    last = 0
    for cut in sorted(set(c % (len(data) + 1) for c in cuts)):
        yield data[last:cut]
        last = cut
    yield data[last:]


def collect(data: bytes, cuts: list[int]) -> list[tuple[dict, bytes]]:  # type: ignore[type-arg]
    async def run() -> list[tuple[dict, bytes]]:  # type: ignore[type-arg]
        return [pair async for batch in read_batches(chunks(data, cuts)) for pair in batch]

    return asyncio.run(run())


EVENTS = ev.reason_stream()


@given(st.lists(st.integers(min_value=0), max_size=30), st.sampled_from([b"\n", b"\r\n"]))
def test_any_chunking_gives_the_same_events(cuts: list[int], newline: bytes) -> None:
    pairs = collect(wire(EVENTS, newline), cuts)
    assert [event for event, _ in pairs] == EVENTS
    assert all(json.loads(raw) == event for event, raw in pairs)


def test_multi_line_data_missing_type_and_done() -> None:
    data = b'event: response.created\ndata: {"response":\ndata: {"id": "r"}}\n\ndata: [DONE]\n\n'
    assert collect(data, []) == [({"type": "response.created", "response": {"id": "r"}},
                                  b'{"response":\n{"id": "r"}}')]


def test_last_frame_without_blank_line_is_not_lost() -> None:
    assert collect(b'data: {"type": "x"}', [3])[0][0] == {"type": "x"}


def test_invalid_json_is_a_502() -> None:
    with pytest.raises(ProxyError) as err:
        collect(b"data: {broken\n\n", [])
    assert err.value.status == 502 and "invalid SSE data JSON" in err.value.message


FRAME_STYLES = {
    "plain": lambda name, data: b"event: " + name + b"\ndata: " + data + b"\n\n",
    "no-space": lambda name, data: b"event:" + name + b"\ndata:" + data + b"\n\n",
    "data-only": lambda name, data: b"data: " + data + b"\n\n",
    "with-id": lambda name, data: b"id: 7\nevent: " + name + b"\ndata: " + data + b"\n\n",
    "comment-before": lambda name, data: b": ping\n\nevent: " + name + b"\ndata: " + data + b"\n\n",
    "data-first": lambda name, data: b"data: " + data + b"\nevent: " + name + b"\n\n",
}


@given(st.lists(st.sampled_from(sorted(FRAME_STYLES)), min_size=1, max_size=12),
       st.lists(st.integers(min_value=0), max_size=12))
def test_frames_of_any_layout_mixed_in_one_read_give_every_event(styles: list[str], cuts: list[int]) -> None:
    events = [{"type": f"response.e{n}", "delta": f'q"\\ {n} é'} for n in range(len(styles))]
    data = b"".join(FRAME_STYLES[style](event["type"].encode(), json.dumps(event).encode())
                    for style, event in zip(styles, events, strict=True))
    assert [event for event, _ in collect(data, cuts)] == events


# --- bounds: the unfinished event is limited on every read, and kept in linear time ---------------


@pytest.mark.parametrize("ending", [b"", b"\r"], ids=["plain", "every-read-ends-in-CR"])
def test_an_event_over_the_limit_is_refused_whatever_its_reads_end_with(ending: bytes) -> None:
    splitter = SSESplitter(max_event_bytes=1000)
    with pytest.raises(ProxyError, match=r"limits\.sse-event-bytes") as refused:
        for _ in range(20):
            splitter.feed(b"data: " + b"x" * 100 + ending)
    assert refused.value.status == 502


@given(st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")), max_size=30),
       st.lists(st.sampled_from([b"", b"\r", b"\n", b"\r\n"]), max_size=30))
def test_the_unfinished_event_never_holds_more_than_the_limit(pieces: list[bytes], ends: list[bytes]) -> None:
    splitter = SSESplitter(max_event_bytes=500)
    held = 0
    for piece, end in zip(pieces, ends, strict=False):
        try:
            splitter.feed(piece + end)
        except ProxyError:
            return
        held = sum(len(p) for p in splitter._pending)
        assert held <= 500


def test_a_48_mib_line_is_kept_as_its_reads_not_recopied_on_each() -> None:
    """The unfinished event is held as the reads that brought it and joined once at its end: re-copying
    the tail on every read made a 48 MiB line cost ~10 s of event-loop CPU (bench, not a timed test)."""
    splitter = SSESplitter()
    read = b"x" * 65536
    splitter.feed(b"event: big\ndata: ")
    for _ in range(48 * 16):
        assert splitter.feed(read) == []
    assert len(splitter._pending) > 48 * 16  # one piece per read: nothing was joined along the way
    name, data = splitter.feed(b"\n\n")[0]
    assert name == b"big" and len(data) == 48 * 16 * 65536


def test_a_blank_line_split_across_reads_ends_the_event() -> None:
    splitter = SSESplitter()
    assert splitter.feed(b"event: a\ndata: {}\n") == []
    assert splitter.feed(b"\nevent: b\ndata: ") == [(b"a", b"{}")]
    assert splitter.feed(b"{}\r") == []
    assert splitter.feed(b"\n\r\n") == [(b"b", b"{}")]


def test_an_event_whose_type_is_not_a_string_is_skipped_not_fatal() -> None:
    data = b'data: {"type": ["response.completed"]}\n\ndata: {"type": 7}\n\ndata: {"type": "x"}\n\n'
    assert [event for event, _ in collect(data, [])] == [{"type": "x"}]
