"""What every table-driven stream translator does with events it must not render."""

from __future__ import annotations

from typing import Any

import pytest

from cliproxy.dialects import anthropic, gemini, openai_chat
from cliproxy.dialects.base import Dialect, StreamTranslator, TranslatedRequest
from cliproxy.errors import Outcome, ProxyError

DIALECTS = [openai_chat.DIALECT, anthropic.DIALECT, gemini.DIALECT]
CREATED = {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-5.4", "created_at": 1}}
TEXT = {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "delta": "Hi"}
COMPLETED = {"type": "response.completed", "response": {"id": "resp_1", "status": "completed", "usage": {}}}


def translator(dialect: Dialect) -> StreamTranslator:
    return dialect.stream_translator(TranslatedRequest(body={}, stream=True, model="gpt-5.4"))


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("kind", [["response.output_text.delta"], {"a": 1}, 7, None, "response.unknown"])
def test_an_event_with_a_type_we_do_not_know_writes_nothing(dialect: Dialect, kind: Any) -> None:
    stream = translator(dialect)
    assert stream.feed({"type": kind, "delta": "x"}, b"") == b""
    assert stream.feed({"delta": "x"}, b"") == b""
    assert stream.feed(TEXT, b"") != b""  # and the stream still works


@pytest.mark.parametrize("dialect", [anthropic.DIALECT, gemini.DIALECT], ids=lambda d: d.name)
def test_nothing_is_written_after_the_terminal_event(dialect: Dialect) -> None:
    stream = translator(dialect)
    stream.feed(CREATED, b"")
    stream.feed(TEXT, b"")
    assert stream.feed(COMPLETED, b"") != b""
    assert [stream.feed(event, b"") for event in (CREATED, TEXT, COMPLETED)] == [b"", b"", b""]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_nothing_is_written_after_a_failure(dialect: Dialect) -> None:
    stream = translator(dialect)
    stream.feed(CREATED, b"")
    assert stream.fail(ProxyError(502, "cut", outcome=Outcome.DISCONNECTED)) != b""
    assert stream.fail(ProxyError(502, "cut", outcome=Outcome.DISCONNECTED)) == b""
    assert stream.finish() == b""
