"""The OpenAI Chat Completions dialect: Chat ⇄ Codex Responses.

This module is the dialect's face: its ``Dialect`` table, what the Chat route calls before it (a
Responses-shaped body converted to Chat, the prompt-cache key of a client key), and what the
legacy Completions dialect builds on (the translations and ``CodexEventStream``). The work lives
by direction: ``request`` builds the Codex body (``from_responses`` first converts a
Responses-shaped body posted to the Chat route), ``stream`` renders ``chat.completion.chunk``
frames, ``response`` renders a finished ``chat.completion``.
"""

from __future__ import annotations

from cliproxy.dialects.base import Dialect
from cliproxy.dialects.openai_chat.from_responses import responses_body_to_chat
from cliproxy.dialects.openai_chat.request import chat_prompt_cache_key, translate_request
from cliproxy.dialects.openai_chat.response import render_response
from cliproxy.dialects.openai_chat.stream import CodexEventStream, stream_translator
from cliproxy.errors import openai_error_body

DIALECT = Dialect(
    name="openai",
    translate_request=translate_request,
    stream_translator=stream_translator,
    render_response=render_response,
    error_body=openai_error_body,
    same_family_as_codex=True,
)

__all__ = [
    "DIALECT",
    "CodexEventStream",
    "chat_prompt_cache_key",
    "render_response",
    "responses_body_to_chat",
    "stream_translator",
    "translate_request",
]
