"""The Anthropic Messages dialect (Claude Code): Messages ⇄ Codex Responses.

This module is the dialect's face: its ``Dialect`` table and the request translation the
messages and count-tokens routes call before the table. The work lives by direction: ``request``
(with ``tools`` and ``history``) builds the Codex body, ``stream`` renders the event stream as
Messages events, ``response`` renders a finished message; ``replay`` puts a Claude Code session's
lost reasoning back into its history.
"""

from __future__ import annotations

from cliproxy.dialects.anthropic.request import translate_request
from cliproxy.dialects.anthropic.response import render_response
from cliproxy.dialects.anthropic.stream import stream_translator
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

__all__ = ["DIALECT", "render_response", "stream_translator", "translate_request"]
