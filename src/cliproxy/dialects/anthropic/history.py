"""Make the translated history acceptable to the backend: every call answered, every answer asked.

The Codex backend rejects a request whose input holds a ``function_call`` without a later
``function_call_output`` ("No tool output found for function call …") or an output without an
earlier call. Claude Code produces both in practice: an interrupted turn leaves a ``tool_use``
unanswered, and compaction or a hand-edited history can leave a ``tool_result`` whose
``tool_use`` is gone. We repair them here, explicitly and without inventing call ids:

- an orphan ``function_call_output`` becomes a plain user message carrying the result, so the
  model still sees what the tool returned;
- an orphan ``function_call`` gets an output after its group of parallel calls saying that no
  result exists — under the call's own id, so nothing can collide;
- a call id used by two ``tool_use`` blocks is a client error (the Anthropic API rejects it too).
"""

from __future__ import annotations

from cliproxy.dialects.base import JSON
from cliproxy.errors import bad_request

NO_RESULT = "No result: this tool call was interrupted before it returned."


def orphan_result_message(item: JSON) -> JSON:
    """A tool result whose call is not in the history, kept as a user message."""
    header = {"type": "input_text", "text": f"[Result of tool call {item['call_id']}]"}
    output = item.get("output")
    if isinstance(output, list):
        return {"type": "message", "role": "user", "content": [header, *output]}
    body = {"type": "input_text", "text": output if isinstance(output, str) and output else "(empty)"}
    return {"type": "message", "role": "user", "content": [header, body]}


def pair_tool_calls(items: list[JSON]) -> list[JSON]:
    """Items with every ``function_call`` followed by exactly one output carrying its id."""
    result: list[JSON] = []
    called: set[str] = set()
    unanswered: dict[str, int] = {}  # call id -> position of the call in ``result``
    for item in items:
        kind = item.get("type")
        if kind == "function_call":
            call_id = item["call_id"]
            if call_id in called:
                raise bad_request(f"tool_use ids must be unique; `{call_id}` appears twice")
            called.add(call_id)
            unanswered[call_id] = len(result)
        elif kind == "function_call_output" and unanswered.pop(item["call_id"], None) is None:
            item = orphan_result_message(item)
        result.append(item)
    for call_id, position in sorted(unanswered.items(), key=lambda entry: entry[1], reverse=True):
        result.insert(_after_call_group(result, position), _no_result(call_id))
    return result


def _no_result(call_id: str) -> JSON:
    return {"type": "function_call_output", "call_id": call_id, "output": NO_RESULT}


def _after_call_group(items: list[JSON], position: int) -> int:
    """Just past the parallel calls the call at ``position`` belongs to, as a client would answer."""
    end = position + 1
    while end < len(items) and items[end].get("type") == "function_call":
        end += 1
    return end
