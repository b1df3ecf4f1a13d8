"""Legacy OpenAI Completions (``/v1/completions``) as a one-message Chat request.

The prompt becomes one user message and goes through the Chat translator; the answer is the
Chat answer reshaped as ``text_completion``. Only text survives: reasoning, tool calls and images
have no place in this old shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from cliproxy.dialects import openai_chat
from cliproxy.dialects.base import JSON, Dialect, TranslatedRequest
from cliproxy.errors import bad_request, openai_error_body

__all__ = [
    "COMPLETIONS_DIALECT",
    "CompletionsStreamTranslator",
    "completions_to_chat",
    "render_response",
    "stream_translator",
    "translate_request",
]

EMPTY_PROMPT = "Complete this:"


def completions_to_chat(body: JSON) -> JSON:
    """``prompt`` → one user message; an empty prompt still asks for something (CPA behaviour)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    chat: JSON = {"model": body.get("model"), "messages": [{"role": "user", "content": _prompt_text(body)}]}
    for key in ("stream", "reasoning_effort"):
        if key in body:
            chat[key] = body[key]
    return chat


def _prompt_text(body: JSON) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and all(isinstance(part, str) for part in prompt):
        prompt = "\n".join(prompt)  # several prompts are answered as one
    if prompt is None or prompt == "":
        return EMPTY_PROMPT
    if not isinstance(prompt, str):
        raise bad_request(
            "`prompt` must be a string or an array of strings (token arrays are not supported)."
        )
    return prompt


def translate_request(body: JSON, headers: Mapping[str, str]) -> TranslatedRequest:
    return openai_chat.translate_request(completions_to_chat(body), headers)


def render_response(response: JSON, req: TranslatedRequest) -> JSON:
    """The ``text_completion`` object: the Chat answer's text, finish reason and usage."""
    chat = openai_chat.render_response(response, req)
    choice = chat["choices"][0]
    out: JSON = {
        "id": chat["id"],
        "object": "text_completion",
        "created": chat["created"],
        "model": chat["model"],
        "choices": [
            {
                "index": 0,
                "text": choice["message"]["content"] or "",
                "finish_reason": choice["finish_reason"],
                "logprobs": None,
            }
        ],
    }
    if "usage" in chat:
        out["usage"] = chat["usage"]
    return out


_TEXT_SUFFIX = b',"finish_reason":null,"logprobs":null}]}\n\n'


class CompletionsStreamTranslator(openai_chat.CodexEventStream):
    """``text_completion`` chunks: only text deltas and the final finish reason are framed."""

    object_name = "text_completion"
    _choice_key = b'"text":'

    def _on_created(self) -> bytes:
        return b""

    def _content(self, text: str) -> bytes:
        if not text:
            return b""
        return b"".join((self._prefix, orjson.dumps(text), _TEXT_SUFFIX))

    def _reasoning(self, text: str) -> bytes:
        return b""

    def _reasoning_break(self) -> bytes:
        return b""

    def _tool_call(self, index: int, call_id: Any, name: str, arguments: str) -> bytes:
        return b""

    def _tool_arguments(self, index: int, arguments: str) -> bytes:
        return b""

    def _image(self, url: str) -> bytes:
        return b""

    def _final_choice(self, finish_reason: str) -> JSON:
        return {"index": 0, "text": "", "finish_reason": finish_reason, "logprobs": None}


def stream_translator(req: TranslatedRequest) -> CompletionsStreamTranslator:
    return CompletionsStreamTranslator(req)


COMPLETIONS_DIALECT = Dialect(
    name="completions",
    translate_request=translate_request,
    stream_translator=stream_translator,
    render_response=render_response,
    error_body=openai_error_body,
    same_family_as_codex=True,
)
