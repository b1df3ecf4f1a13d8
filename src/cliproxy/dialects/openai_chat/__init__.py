"""OpenAI Chat Completions ⇄ Codex Responses (proxy.md §4.1–§4.3, §3.4, §1.1): the dialect table.

Three pure pieces, no I/O, each in its own module and re-exported here for the routes, the
legacy Completions dialect and the tests:

- ``openai_chat_request``: ``translate_request`` builds the Codex body from a Chat body
  (``chat_from_responses`` first converts a Responses-shaped body posted to the Chat route);
- ``openai_chat_stream``: ``ChatStreamTranslator`` turns Codex events into
  ``chat.completion.chunk`` frames;
- ``openai_chat_response``: ``render_response`` turns a finished Codex ``response`` object into a
  ``chat.completion``.
"""

from __future__ import annotations

from cliproxy.dialects.base import Dialect
from cliproxy.dialects.openai_chat.from_responses import responses_body_to_chat
from cliproxy.dialects.openai_chat.request import DEFAULT_EFFORT, chat_prompt_cache_key, translate_request
from cliproxy.dialects.openai_chat.response import (
    collect_output,
    image_data_url,
    incomplete_finish_reason,
    render_response,
    usage_to_chat,
)
from cliproxy.dialects.openai_chat.stream import ChatStreamTranslator, CodexEventStream, stream_translator
from cliproxy.errors import openai_error_body

__all__ = [
    "DEFAULT_EFFORT",
    "DIALECT",
    "ChatStreamTranslator",
    "CodexEventStream",
    "chat_prompt_cache_key",
    "collect_output",
    "image_data_url",
    "incomplete_finish_reason",
    "render_response",
    "responses_body_to_chat",
    "stream_translator",
    "translate_request",
    "usage_to_chat",
]

DIALECT = Dialect(
    name="openai",
    translate_request=translate_request,
    stream_translator=stream_translator,
    render_response=render_response,
    error_body=openai_error_body,
    same_family_as_codex=True,
)
