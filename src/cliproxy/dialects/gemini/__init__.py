"""The Gemini dialect (google-genai SDK): ``generateContent`` ⇄ Codex Responses.

This module is the dialect's face: its ``Dialect`` table and the request translation the
count-tokens route also calls. The work lives by direction: ``request`` builds the Codex body,
``stream`` renders the event stream as ``streamGenerateContent`` chunks, ``response`` renders a
finished response.
"""

from __future__ import annotations

import dataclasses

from cliproxy.dialects.base import Dialect
from cliproxy.dialects.gemini.request import translate_request
from cliproxy.dialects.gemini.response import render_response
from cliproxy.dialects.gemini.stream import array_stream_translator, stream_translator
from cliproxy.errors import google_error_body

DIALECT = Dialect(
    name="gemini",
    translate_request=translate_request,
    stream_translator=stream_translator,
    render_response=render_response,
    error_body=google_error_body,
    same_family_as_codex=False,
)
# ``streamGenerateContent`` without ``alt=sse``: the stream is one JSON array, as Google sends it.
ARRAY_DIALECT = dataclasses.replace(DIALECT, stream_translator=array_stream_translator,
                                    stream_media_type="application/json")

__all__ = ["ARRAY_DIALECT", "DIALECT", "render_response", "stream_translator", "translate_request"]
