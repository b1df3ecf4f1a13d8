"""Anthropic Messages → Codex request translation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from cliproxy.dialects.anthropic import DIALECT
from cliproxy.dialects.anthropic.history import NO_RESULT
from cliproxy.errors import ProxyError
from tests.dialects.anthropic_helpers import BLOB, dig, make_blob
from tests.vectors import load_vector as vector


def translate(body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return DIALECT.translate_request(body, headers or {}).body


def user(text: str = "hello") -> dict[str, Any]:
    return {"role": "user", "content": text}


def calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in body["input"] if i["type"] in ("function_call", "function_call_output")]


# --- the shared vectors -----------------------------------------------------------------------

SYSTEM_VECTORS = [
    "claude_to_codex_system_billing_header_filtered.json",
    "claude_to_codex_system_empty_string_system.json",
    "claude_to_codex_system_no_system.json",
    "claude_to_codex_system_string_system.json",
    "claude_to_codex_system_system_role_in_messages.json",
]


@pytest.mark.parametrize("name", SYSTEM_VECTORS)
def test_system_vectors(name: str) -> None:
    case = vector(name)
    body = translate(case["input"]["body"])
    for path, expected in case["expected"]["assert"].items():
        assert dig(body, path) == expected, path
    if "no_item_with_role" in case["expected"]:
        assert all(i.get("role") != case["expected"]["no_item_with_role"] for i in body["input"])
    assert body["instructions"] == ""


# --- forced fields ----------------------------------------------------------------------------


def test_plain_turn_has_the_forced_fields_and_drops_anthropic_only_ones() -> None:
    body = translate(
        {
            "model": "gpt-5.4",
            "max_tokens": 1000,
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "stop_sequences": ["x"],
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "messages": [user()],
        }
    )
    assert body["model"] == "gpt-5.4"
    assert body["stream"] is True and body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["parallel_tool_calls"] is True
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
    for dropped in (
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "context_management",
        "max_output_tokens",
        "metadata",
        "tools",
        "tool_choice",
    ):
        assert dropped not in body
    assert body["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}]


def test_model_is_kept_as_sent_and_may_be_absent() -> None:
    with_suffix = DIALECT.translate_request({"model": "gpt-5.4(high)", "messages": [user()]}, {})
    assert with_suffix.body["model"] == "gpt-5.4(high)" and with_suffix.model == "gpt-5.4(high)"
    without = DIALECT.translate_request({"messages": [user("foo")], "tools": []}, {})
    assert "model" not in without.body and without.model == ""


def test_stream_flag_is_the_clients_while_upstream_always_streams() -> None:
    assert DIALECT.translate_request({"messages": [user()], "stream": True}, {}).stream is True
    plain = DIALECT.translate_request({"messages": [user()]}, {})
    assert plain.stream is False and plain.body["stream"] is True


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"model": "m"},
        {"messages": "hi"},
        {"messages": [{"role": "tool", "content": "x"}]},
        {"messages": ["hi"]},
        {"messages": [{"role": "user", "content": 3}]},
        {"model": 5, "messages": [user()]},
        {"messages": [user()], "tools": {"name": "x"}},
        {"messages": [user()], "tools": [{"description": "no name"}]},
        {"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "x", "input": {}}]}]},
        {"messages": [user()], "thinking": {"type": "enabled", "budget_tokens": -5}},
    ],
)
def test_unusable_bodies_are_400s(body: Any) -> None:
    with pytest.raises(ProxyError) as caught:
        DIALECT.translate_request(body, {})
    assert caught.value.status == 400
    assert DIALECT.error_body(caught.value)["error"]["type"] == "invalid_request_error"


# --- a real Claude Code request (as Claude Code sends it) -------------------------------------

SESSION = "ae050077-6c1e-4d1c-9b43-0e3f6a2b9d11"

CLAUDE_CODE_BODY: dict[str, Any] = {
    "model": "claude-opus-5-5",
    "metadata": {"user_id": json.dumps({"device_id": "2f47" * 16, "account_uuid": "", "session_id": SESSION})},
    "max_tokens": 128000,
    "thinking": {"type": "adaptive", "display": "omitted"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "output_config": {"effort": "medium"},
    "stream": True,
    "system": [
        {
            "type": "text",
            "text": "x-anthropic-billing-header: cc_version=2.1.331.16b; cc_entrypoint=sdk-cli;",
        },
        {
            "type": "text",
            "text": "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
            "cache_control": {"type": "ephemeral"},
        },
        {
            "type": "text",
            "text": "\nYou are an agent working with the user toward their goals.",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>\nAttribution for git commits</system-reminder>"},
                {"type": "text", "text": "Reply with the upper-case form of tok-claude1"},
            ],
        },
        {
            "role": "system",
            "content": [
                {
                    "type": "text",
                    "text": "# Environment\nYou have been invoked in /tmp",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },
    ],
    "tools": [
        {
            "name": "Bash",
            "description": "Run a command",
            "input_schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
                "required": ["command"],
                "additionalProperties": False,
            },
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
        {
            "name": "DeferredToolPlaceholder",
            "description": "placeholder",
            "input_schema": {"type": "object", "properties": {}},
            "defer_loading": True,
            "input_examples": [{"a": 1}],
            "eager_input_streaming": True,
        },
    ],
}


def test_real_claude_code_request_translates_without_loss() -> None:
    result = DIALECT.translate_request(CLAUDE_CODE_BODY, {"x-claude-code-session-id": SESSION})
    body = result.body
    developer, first_user, env = body["input"]
    assert developer["role"] == "developer"
    assert [p["text"] for p in developer["content"]] == [
        "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
        "\nYou are an agent working with the user toward their goals.",
    ]
    assert [p["text"] for p in first_user["content"]][1] == "Reply with the upper-case form of tok-claude1"
    assert env == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "# Environment\nYou have been invoked in /tmp"}],
    }
    bash, deferred = body["tools"]
    assert bash == {
        "type": "function",
        "name": "Bash",
        "description": "Run a command",
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
            "required": ["command"],
            "additionalProperties": False,
        },
    }
    assert deferred == {
        "type": "function",
        "name": "DeferredToolPlaceholder",
        "description": "placeholder",
        "parameters": {"type": "object", "properties": {}},
        "strict": False,
    }
    assert body["reasoning"]["effort"] == "medium"  # adaptive + output_config.effort
    assert "context_management" not in body and "cache_control" not in json.dumps(body)
    assert result.stream is True
    assert body["prompt_cache_key"] == result.session_id
    assert result.extra["claude_session"] == SESSION


# --- thinking → reasoning.effort --------------------------------------------------------------


@pytest.mark.parametrize(
    ("thinking", "output_config", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 512}, None, "low"),  # minimal, clamped for Claude
        ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
        ({"type": "enabled", "budget_tokens": 8192}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 16000}, None, "high"),
        ({"type": "enabled", "budget_tokens": 32000}, None, "xhigh"),
        ({"type": "enabled"}, None, "medium"),
        ({"type": "adaptive"}, None, "xhigh"),
        ({"type": "adaptive"}, {"effort": "max"}, "xhigh"),
        ({"type": "adaptive"}, {"effort": "LOW"}, "low"),
        ({"type": "auto"}, {"effort": "high"}, "high"),
        ({"type": "disabled"}, None, "none"),  # the integrator maps none → low for Codex models
        (None, None, "medium"),
    ],
)
def test_thinking_maps_to_reasoning_effort(thinking: Any, output_config: Any, effort: str) -> None:
    body: dict[str, Any] = {"messages": [user()]}
    if thinking is not None:
        body["thinking"] = thinking
    if output_config is not None:
        body["output_config"] = output_config
    assert translate(body)["reasoning"] == {"effort": effort, "summary": "auto"}


# --- prompt cache and session (a UUIDv5 per model and session) -----------------------------------


def test_old_format_user_id_gives_a_stable_deterministic_cache_key() -> None:
    body = {
        "model": "gpt-5.4",
        "messages": [user()],
        "metadata": {"user_id": "user_x_account__session_11111111-2222-3333-4444-555555555555"},
    }
    first = DIALECT.translate_request(body, {})
    second = DIALECT.translate_request(json.loads(json.dumps(body)), {})
    assert first.body["prompt_cache_key"] == second.body["prompt_cache_key"] == first.session_id
    expected = uuid.uuid5(
        uuid.NAMESPACE_OID,
        "cli-proxy-api:codex:prompt-cache:claude:gpt-5.4:11111111-2222-3333-4444-555555555555",
    )
    assert first.session_id == str(expected)


def test_cache_key_differs_per_model_and_ignores_the_effort_suffix() -> None:
    meta = {"user_id": json.dumps({"session_id": SESSION})}
    key = {
        m: DIALECT.translate_request({"model": m, "messages": [user()], "metadata": meta}, {}).session_id
        for m in ("gpt-5.4", "gpt-5.4(high)", "gpt-5.5")
    }
    assert key["gpt-5.4"] == key["gpt-5.4(high)"] != key["gpt-5.5"]


def test_session_header_is_used_when_metadata_has_none() -> None:
    body = {"model": "gpt-5.4", "messages": [user()]}
    result = DIALECT.translate_request(body, {"X-Claude-Code-Session-Id": SESSION})
    same = DIALECT.translate_request(body, {"x-claude-code-session-id": SESSION})
    assert result.session_id is not None and result.session_id == same.session_id
    assert result.extra == {"claude_session": SESSION}


@pytest.mark.parametrize("user_id", ["user_abc123", "{not json", json.dumps({"device_id": "x"}), ""])
def test_user_id_without_session_keys_the_conversation_by_its_opening(user_id: str) -> None:
    first = DIALECT.translate_request({"messages": [user()], "metadata": {"user_id": user_id}}, {})
    later = DIALECT.translate_request({"messages": [user(), {"role": "assistant", "content": "ok"}, user("more")],
                                       "metadata": {"user_id": user_id}}, {})
    other = DIALECT.translate_request({"messages": [user("another question")], "metadata": {"user_id": user_id}}, {})
    assert first.extra == {}  # no session: nothing to replay
    assert first.body["prompt_cache_key"] == first.session_id == later.body["prompt_cache_key"]
    assert other.body["prompt_cache_key"] != first.session_id


# --- content blocks ---------------------------------------------------------------------------


def test_images_base64_and_url_sources() -> None:
    body = translate(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                        {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
                    ],
                }
            ]
        }
    )
    assert body["input"][0]["content"] == [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
        # Recommended divergence: CPA drops URL images; we pass the URL.
        {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
    ]


def test_assistant_text_is_output_text_and_dropped_blocks_vanish() -> None:
    body = translate(
        {
            "messages": [
                user(),
                {
                    "role": "assistant",
                    "content": [
                        {"type": "redacted_thinking", "data": "abc"},
                        {"type": "text", "text": "Sure."},
                        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                        {"type": "document", "source": {"type": "text", "data": "x"}},
                    ],
                },
            ]
        }
    )
    assert body["input"][1] == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Sure."}],
    }
    assert len(body["input"]) == 2


def test_parallel_tool_use_and_results_with_images_pair_up() -> None:
    body = translate(
        {
            "messages": [
                user("check both"),
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Running both."},
                        {"type": "tool_use", "id": "toolu_a", "name": "Read", "input": {"path": "a.png"}},
                        {"type": "tool_use", "id": "toolu_b", "name": "Bash", "input": {"command": "ls"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_a",
                            "content": [
                                {"type": "text", "text": "the image:"},
                                {
                                    "type": "image",
                                    "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                                },
                            ],
                        },
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_b",
                            "content": "a.png\nb.png",
                            "is_error": False,
                        },
                        {"type": "text", "text": "what do you see?"},
                    ],
                },
            ]
        }
    )
    kinds = [(i["type"], i.get("role") or i.get("call_id")) for i in body["input"]]
    assert kinds == [
        ("message", "user"),
        ("message", "assistant"),
        ("function_call", "toolu_a"),
        ("function_call", "toolu_b"),
        ("function_call_output", "toolu_a"),
        ("function_call_output", "toolu_b"),
        ("message", "user"),
    ]
    assert body["input"][2]["arguments"] == '{"path":"a.png"}'
    assert body["input"][4]["output"] == [
        {"type": "input_text", "text": "the image:"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
    ]
    assert body["input"][5]["output"] == "a.png\nb.png"


def test_tool_result_content_shapes() -> None:
    def output(content: Any) -> Any:
        body = translate(
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": {}}],
                    },
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": content}],
                    },
                ]
            }
        )
        return body["input"][1]["output"]

    assert output(None) == ""
    assert output([]) == ""
    assert output("plain") == "plain"
    assert output([{"type": "search_result", "title": "t"}]) == '[{"type":"search_result","title":"t"}]'


def test_thinking_signature_round_trip() -> None:
    # A Codex blob comes back as a reasoning item, prefixes stripped.
    history = [
        user(),
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": BLOB},
                {"type": "thinking", "thinking": "again", "signature": "openai#" + make_blob(seed=9)},
                {"type": "thinking", "thinking": "claude", "signature": "EqQBCkYIBRgCKkD" + "A" * 80},
                {"type": "thinking", "thinking": "no signature"},
                {"type": "text", "text": "answer"},
            ],
        },
        user("next"),
    ]
    body = translate({"messages": history})
    reasoning = [i for i in body["input"] if i["type"] == "reasoning"]
    assert reasoning == [
        {"type": "reasoning", "summary": [], "content": None, "encrypted_content": BLOB},
        {"type": "reasoning", "summary": [], "content": None, "encrypted_content": make_blob(seed=9)},
    ]
    assert "hmm" not in json.dumps(body)


def test_thinking_in_a_user_message_is_not_replayed() -> None:
    body = translate(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "thinking", "thinking": "x", "signature": BLOB},
                        {"type": "text", "text": "hi"},
                    ],
                }
            ]
        }
    )
    assert [i["type"] for i in body["input"]] == ["message"]


# --- tool history repair ----------------------------------------------------------------------


def test_orphan_tool_use_gets_an_explicit_no_result_output() -> None:
    body = translate(
        {
            "messages": [
                user("run it"),
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "Bash",
                            "input": {"command": "sleep 100"},
                        },
                        {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "ls"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "ok"}],
                },
                user("never mind"),
            ]
        }
    )
    assert [(i["type"], i.get("call_id")) for i in calls(body)] == [
        ("function_call", "toolu_1"),
        ("function_call", "toolu_2"),
        ("function_call_output", "toolu_1"),
        ("function_call_output", "toolu_2"),
    ]
    assert calls(body)[2]["output"] == NO_RESULT


def test_orphan_tool_use_at_the_end_of_history() -> None:
    body = translate(
        {
            "messages": [
                user(),
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_9", "name": "Bash", "input": {}}],
                },
            ]
        }
    )
    assert body["input"][-1] == {"type": "function_call_output", "call_id": "toolu_9", "output": NO_RESULT}


def test_orphan_tool_result_becomes_a_user_message_keeping_its_content() -> None:
    body = translate(
        {
            "messages": [
                user("earlier context was compacted"),
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_gone",
                            "content": [
                                {"type": "text", "text": "file contents"},
                                {
                                    "type": "image",
                                    "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                                },
                            ],
                        },
                    ],
                },
            ]
        }
    )
    assert calls(body) == []
    orphan = body["input"][-1]
    assert orphan["role"] == "user"
    assert orphan["content"] == [
        {"type": "input_text", "text": "[Result of tool call toolu_gone]"},
        {"type": "input_text", "text": "file contents"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
    ]


def test_a_result_before_its_call_and_a_second_result_are_orphans() -> None:
    body = translate(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "early"}],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "real"}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "again"}],
                },
            ]
        }
    )
    assert [(i["type"], i.get("output")) for i in calls(body)] == [
        ("function_call", None),
        ("function_call_output", "real"),
    ]
    assert sum(1 for i in body["input"] if i["type"] == "message") == 2


def test_duplicate_tool_use_ids_are_rejected() -> None:
    with pytest.raises(ProxyError):
        translate(
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "t1", "name": "x", "input": {}},
                            {"type": "tool_use", "id": "t1", "name": "x", "input": {}},
                        ],
                    }
                ]
            }
        )


# --- tools, names and ids -----------------------------------------------------------------------


def test_long_tool_names_are_shortened_and_mapped_back() -> None:
    mcp = "mcp__server__" + "a" * 60 + "__lookup"
    first = "x" * 64 + "_first_tool"
    second = "x" * 64 + "_second_tool"
    tools = [{"name": n, "input_schema": {"type": "object"}} for n in (mcp, first, second)]
    result = DIALECT.translate_request(
        {
            "messages": [
                user(),
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": second, "input": {}}],
                },
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
            ],
            "tools": tools,
            "tool_choice": {"type": "tool", "name": first},
        },
        {},
    )
    names = [t["name"] for t in result.body["tools"]]
    assert names == ["mcp__lookup", "x" * 64, "x" * 62 + "_1"]
    assert result.body["input"][1]["name"] == "x" * 62 + "_1"
    assert result.body["tool_choice"] == {"type": "function", "name": "x" * 64}
    assert result.tool_names == {"mcp__lookup": mcp, "x" * 64: first, "x" * 62 + "_1": second}
    assert result.body["tools"][1]["parameters"] == {"type": "object", "properties": {}}


def test_long_tool_use_ids_are_hashed_identically_on_both_sides() -> None:
    long_id = "toolu_" + "z" * 94
    body = translate(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": long_id, "name": "x", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": long_id, "content": "ok"}],
                },
            ]
        }
    )
    call, output = calls(body)
    assert len(call["call_id"]) == 64 and call["call_id"] == output["call_id"]
    assert call["call_id"].startswith(long_id[:47] + "_") and len(call["call_id"].split("_")[-1]) == 16


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        (None, "auto", True),
        ({"type": "auto"}, "auto", True),
        ({"type": "any"}, "required", True),
        ({"type": "none"}, "none", True),
        ({"type": "tool", "name": "Bash"}, {"type": "function", "name": "Bash"}, True),
        ({"type": "tool", "name": "web_search"}, {"type": "web_search"}, True),
        ({"type": "tool", "name": ""}, "auto", True),
        ({"type": "auto", "disable_parallel_tool_use": True}, "auto", False),
        ({"type": "mystery"}, "auto", True),
    ],
)
def test_tool_choice(choice: Any, expected: Any, parallel: bool) -> None:
    body: dict[str, Any] = {
        "messages": [user()],
        "tools": [
            {"name": "Bash", "input_schema": {"type": "object", "properties": {}}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        ],
    }
    if choice is not None:
        body["tool_choice"] = choice
    translated = translate(body)
    assert translated["tool_choice"] == expected
    assert translated["parallel_tool_calls"] is parallel


def test_web_search_tools() -> None:
    body = translate(
        {
            "messages": [user()],
            "tools": [
                {
                    "type": "web_search_20250305",
                    "name": "web_search",
                    "allowed_domains": ["example.com"],
                    "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
                },
                {"type": "web_search_20260209", "name": "web_search_2"},
            ],
        }
    )
    assert body["tools"] == [
        {
            "type": "web_search",
            "filters": {"allowed_domains": ["example.com"]},
            "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
        },
        {"type": "web_search"},
    ]


def test_anthropic_client_tools_become_functions_with_a_usable_schema() -> None:
    body = translate(
        {
            "messages": [user()],
            "tools": [
                {"type": "bash_20250124", "name": "bash"},
                {
                    "type": "text_editor_20250728",
                    "name": "str_replace_based_edit_tool",
                    "max_characters": 1000,
                },
                {"type": "computer_20250124", "name": "computer", "display_width_px": 1024},
            ],
        }
    )
    bash, editor, computer = body["tools"]
    assert bash["type"] == "function" and bash["name"] == "bash"
    assert set(bash["parameters"]["properties"]) == {"command", "restart"}
    assert editor["parameters"]["required"] == ["command", "path"]
    assert computer == {
        "type": "function",
        "name": "computer",
        "strict": False,
        "parameters": {"type": "object", "properties": {}},
    }


def test_tool_schema_normalisation() -> None:
    body = translate(
        {
            "messages": [user()],
            "tools": [
                {"name": "a"},
                {"name": "b", "input_schema": "garbage"},
                {"name": "c", "input_schema": {"properties": {"x": {"type": "string"}}}},
                {
                    "name": "d",
                    "input_schema": {"type": "object", "$schema": "http://json-schema.org/draft-07/schema#"},
                },
            ],
        }
    )
    assert [t["parameters"] for t in body["tools"]] == [
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {"x": {"type": "string"}}},
        {"type": "object", "properties": {}},
    ]


def test_empty_tool_list_still_sets_tools_and_choice() -> None:
    body = translate({"messages": [user("foo")], "tools": []})
    assert body["tools"] == [] and body["tool_choice"] == "auto"
