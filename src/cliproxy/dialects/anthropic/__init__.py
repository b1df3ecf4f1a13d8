"""The Anthropic Messages dialect (Claude Code): Messages ⇄ Codex Responses (proxy.md §4.5).

The work is split by direction: ``anthropic_request`` (with ``anthropic_tools`` and
``anthropic_history``) builds the Codex body, ``anthropic_stream`` renders the event stream and
``anthropic_response`` the non-streaming message.
"""

from __future__ import annotations

from cliproxy.dialects.anthropic.request import translate_request
from cliproxy.dialects.anthropic.response import render_response
from cliproxy.dialects.anthropic.stream import PING, AnthropicStream, stream_translator
from cliproxy.dialects.base import Dialect
from cliproxy.errors import anthropic_error_body

DIALECT = Dialect(
    name="claude",
    translate_request=translate_request,
    stream_translator=stream_translator,
    render_response=render_response,
    error_body=anthropic_error_body,
    same_family_as_codex=False,
)

__all__ = ["DIALECT", "PING", "AnthropicStream", "render_response", "stream_translator", "translate_request"]
