"""One WebSocket connection's transcript, so a follow-up can be sent whole over HTTP.

Over a WebSocket, Codex CLI sends a follow-up as ``previous_response_id`` plus only the new items
(after a tool call, just its output). The backend is asked with ``store: false``, so it remembers
nothing: the proxy keeps the last request's input and the last answer's output items, and a
follow-up becomes ``input`` = those + the new items, with ``model`` and ``instructions`` inherited
when absent. An item the transcript already holds (same ``id``, or a call with the same
``call_id``) is not added twice.

A ``previous_response_id`` that is not the last answer's (another connection's, or one forgotten
because the transcript grew past its byte limit) is never guessed: it is answered with
``previous_response_not_found``, on which Codex CLI sends its full context again. New input that
already holds model output (a compaction done by the client replaced the history) is the whole
history, and replaces the transcript instead of being appended to it.
"""

from __future__ import annotations

from typing import Any

import orjson

from cliproxy.errors import ProxyError, bad_request

JSON = dict[str, Any]

# Items only the model produces: new input holding one is a rewritten history, not a continuation.
MODEL_OUTPUT_TYPES = frozenset({
    "reasoning", "function_call", "custom_tool_call", "local_shell_call", "web_search_call",
    "file_search_call", "image_generation_call", "code_interpreter_call", "tool_search_call",
    "compaction", "compaction_summary",
})
INHERITED = ("model", "instructions")
APPEND = "response.append"


def previous_response_not_found(response_id: str) -> ProxyError:
    return ProxyError(400, f"Previous response with id '{response_id}' not found.",
                      code="previous_response_not_found", type="invalid_request_error",
                      extra={"param": "previous_response_id"})


def holds_model_output(items: list[Any]) -> bool:
    return any(isinstance(item, dict) and (item.get("type") in MODEL_OUTPUT_TYPES
                                           or (item.get("type") == "message" and item.get("role") == "assistant"))
               for item in items)


def _input_items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    if not isinstance(value, list):
        raise bad_request("`input` must be a string or an array of input items")
    return value


def _merged(history: list[Any], new: list[Any]) -> list[Any]:
    """``history`` + the items of ``new`` it does not hold yet (by ``id``, calls by ``call_id``)."""
    ids = {item.get("id") for item in history if isinstance(item, dict) and item.get("id")}
    calls = {(item.get("type"), item.get("call_id")) for item in history
             if isinstance(item, dict) and item.get("call_id")}
    return [*history, *(item for item in new if _is_new(item, ids, calls))]


def _is_new(item: Any, ids: set[Any], calls: set[tuple[Any, Any]]) -> bool:
    if not isinstance(item, dict):
        return True
    if item.get("id") and item["id"] in ids:
        return False
    call_id = item.get("call_id")
    return not call_id or (item.get("type"), call_id) not in calls


class Transcript:
    """The last request's input and the last answer's output, at most ``limit`` bytes of JSON."""

    __slots__ = ("_inherited", "_input", "_output", "_response_id", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._input: list[Any] = []
        self._output: list[Any] = []
        self._response_id: str | None = None
        self._inherited: JSON = {}

    @property
    def response_id(self) -> str | None:
        """The answer a follow-up may name; None before the first or after the transcript was dropped."""
        return self._response_id

    def expand(self, message: JSON) -> JSON:
        """The full request for a client message (``type`` removed): ProxyError when it follows an
        answer this transcript does not hold."""
        body = {key: value for key, value in message.items() if key != "type"}
        new = _input_items(body.get("input"))
        previous = body.pop("previous_response_id", None)
        if message.get("type") == APPEND and previous is None:
            previous = self._response_id or ""
        if previous is None:
            body["input"] = new
            return body
        if not isinstance(previous, str) or previous != self._response_id:
            raise previous_response_not_found(str(previous))
        for key in INHERITED:
            if key not in body and key in self._inherited:
                body[key] = self._inherited[key]
        body["input"] = new if holds_model_output(new) else _merged([*self._input, *self._output], new)
        return body

    def remember(self, body: JSON, response: JSON) -> None:
        """After a completed answer: the input it was given (whole) and what it produced. Past the
        limit the transcript is dropped, so the next follow-up asks the client for its context."""
        output = response.get("output")
        output = output if isinstance(output, list) else []
        sent = body.get("input")
        sent = sent if isinstance(sent, list) else []
        response_id = response.get("id")
        if not isinstance(response_id, str) or len(orjson.dumps(sent)) + len(orjson.dumps(output)) > self.limit:
            self.forget()
            return
        self._input, self._output, self._response_id = sent, output, response_id
        self._inherited = {key: body[key] for key in INHERITED if key in body}

    def forget(self) -> None:
        self._input, self._output, self._response_id, self._inherited = [], [], None, {}


__all__ = ["Transcript", "holds_model_output", "previous_response_not_found"]
