"""Anthropic ``tools`` / ``tool_choice`` → Codex tools.

Tools are rebuilt from ``name``, ``description`` and the schema only (the recommended
divergence): Anthropic-only keys (``cache_control``, ``defer_loading``, ``input_examples``,
``eager_input_streaming``…) would make the backend answer "Unknown parameter".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from cliproxy.dialects.base import JSON
from cliproxy.dialects.names import build_name_map, short_name
from cliproxy.errors import bad_request

_EMPTY_SCHEMA: JSON = {"type": "object", "properties": {}}

# Anthropic-defined client tools carry a versioned ``type`` and no schema: the model was trained
# on their input shape. Codex models were not, so they get the documented input schema.
_CLIENT_TOOL_SCHEMAS: dict[str, JSON] = {
    "bash_": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The shell command to run."},
            "restart": {"type": "boolean", "description": "Restart the shell session."},
        },
    },
    "text_editor_": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
            "path": {"type": "string"},
            "file_text": {"type": "string"},
            "old_str": {"type": "string"},
            "new_str": {"type": "string"},
            "insert_line": {"type": "integer"},
            "view_range": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["command", "path"],
    },
}


@dataclass
class Tools:
    """The translated tool list and what the rest of the request translation needs from it."""

    tools: list[JSON] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # client name -> upstream name
    web_search_names: set[str] = field(default_factory=set)


def _is_web_search(tool: JSON) -> bool:
    return str(tool.get("type", "")).startswith("web_search_")


def _web_search(tool: JSON) -> JSON:
    result: JSON = {"type": "web_search"}
    domains = tool.get("allowed_domains")
    if isinstance(domains, list) and domains:
        result["filters"] = {"allowed_domains": [d for d in domains if isinstance(d, str)]}
    location = tool.get("user_location")
    if isinstance(location, dict):
        result["user_location"] = location
    return result


def normalize_schema(schema: object) -> JSON:
    """A JSON-schema object the backend accepts: always ``type`` and ``properties``, no ``$schema``."""
    if not isinstance(schema, dict):
        return dict(_EMPTY_SCHEMA)
    result = {key: value for key, value in schema.items() if key != "$schema"}
    result.setdefault("type", "object")
    if result["type"] == "object" and not isinstance(result.get("properties"), dict):
        result["properties"] = {}
    return result


def _client_tool_schema(tool_type: str) -> JSON:
    for prefix, schema in _CLIENT_TOOL_SCHEMAS.items():
        if tool_type.startswith(prefix):
            return copy.deepcopy(schema)
    return dict(_EMPTY_SCHEMA)


def _function(tool: JSON, upstream_name: str) -> JSON:
    tool_type = tool.get("type")
    if isinstance(tool_type, str) and tool_type not in ("", "custom"):
        parameters = _client_tool_schema(tool_type)
    else:
        parameters = normalize_schema(tool.get("input_schema"))
    result: JSON = {"type": "function", "name": upstream_name}
    if isinstance(tool.get("description"), str):
        result["description"] = tool["description"]
    result["parameters"] = parameters
    result["strict"] = False
    return result


def _tool_name(tool: JSON, index: int) -> str:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(f"tools.{index}.name: Field required")
    return name


def translate_tools(raw: object) -> Tools:
    """Declared tools, with names shortened uniquely over the whole list.

    A clash is resolved by a ``_1``, ``_2``… suffix, in declaration order, so the same tool list
    always gives the same names.
    """
    if raw is None:
        return Tools()
    if not isinstance(raw, list):
        raise bad_request("tools: Input should be a valid list")
    declared: list[tuple[JSON, str]] = []
    result = Tools()
    for index, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise bad_request(f"tools.{index}: Input should be a valid dictionary")
        if _is_web_search(tool):
            result.tools.append(_web_search(tool))
            if isinstance(tool.get("name"), str):
                result.web_search_names.add(tool["name"])
            continue
        declared.append((tool, _tool_name(tool, index)))
    result.names = build_name_map(name for _, name in declared)
    result.tools.extend(_function(tool, result.names[name]) for tool, name in declared)
    return result


def translate_tool_choice(raw: object, tools: Tools) -> tuple[Any, bool]:
    """``(tool_choice, parallel_tool_calls)`` from the Anthropic ``tool_choice``."""
    if not isinstance(raw, dict):
        return "auto", True
    parallel = raw.get("disable_parallel_tool_use") is not True
    kind = raw.get("type")
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", parallel
    if kind == "tool":
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            return "auto", parallel
        if name in tools.web_search_names:
            return {"type": "web_search"}, parallel
        return {"type": "function", "name": short_name(name, tools.names)}, parallel
    return "auto", parallel
