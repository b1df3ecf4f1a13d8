"""Local token counting with o200k_base."""

from __future__ import annotations

import subprocess
import sys

from cliproxy.dialects import tokens


def test_known_o200k_counts() -> None:
    assert tokens.count_text("hello world") == 2
    assert tokens.count_text("") == 0
    assert tokens.count_text("hello world" + " hello world" * 999) == 2000
    assert tokens.count_text("hello world ") == 3  # a trailing space is a token of its own


def test_special_token_look_alikes_are_plain_text() -> None:
    assert tokens.count_text("<|endoftext|>") > 1


def test_lone_surrogates_do_not_break_counting() -> None:
    assert tokens.count_text("a\ud800b") >= 2


def test_texts_past_the_tiktoken_style_limits_are_counted() -> None:
    text = "word" + " word" * 299_999  # > 1M characters, > 200k tokens
    assert tokens.count_text(text) == 300_000


def test_tokenizer_is_loaded_lazily_not_at_import() -> None:
    code = (
        "import sys, cliproxy.dialects.tokens, cliproxy.dialects.anthropic\n"
        "assert not any(m.startswith('bpe_openai') for m in sys.modules), sorted(sys.modules)\n"
        "assert cliproxy.dialects.tokens.count_text('hello world') == 2\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_anthropic_request_without_model_is_counted() -> None:
    # What Claude Code's /context sends for one tool.
    request = {
        "messages": [{"role": "user", "content": "foo"}],
        "tools": [
            {
                "name": "Bash",
                "description": "Run a shell command",
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
            }
        ],
    }
    expected = tokens.count_text(
        'foo\nBash\nRun a shell command\n{"type":"object","properties":{"command":{"type":"string"}}}'
    )
    assert tokens.count_anthropic_tokens(request) == expected


def test_plain_message_counts_its_text() -> None:
    assert (
        tokens.count_anthropic_tokens({"model": "gpt-5.4", "messages": [{"role": "user", "content": "hello world"}]})
        == 2
    )


def test_codex_body_counts_every_part_of_section_3_8_and_skips_images() -> None:
    body = {
        "instructions": "Be brief.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "system"}]},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "data:image/png;base64," + "A" * 10_000},
                ],
            },
            {"type": "reasoning", "summary": [], "content": None, "encrypted_content": "gAAAA" + "x" * 500},
            {"type": "function_call", "call_id": "c1", "name": "Bash", "arguments": '{"command":"ls"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "b"}],
            },
        ],
        "tools": [
            {"type": "function", "name": "Bash", "description": "shell", "parameters": {"type": "object"}},
            {"type": "web_search"},
        ],
        "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "string"}}},
    }
    text = tokens.codex_body_text(body)
    assert text == "\n".join(
        [
            "Be brief.",
            "system",
            "look",
            "Bash",
            '{"command":"ls"}',
            "a.txt",
            "b",
            "Bash",
            "shell",
            '{"type":"object"}',
            "answer",
            '{"type":"string"}',
        ]
    )
    assert tokens.count_codex_body_tokens(body) == tokens.count_text(text)


def test_count_grows_with_history() -> None:
    short = {"messages": [{"role": "user", "content": "hi"}]}
    longer = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello! How can I help you today?"},
        ]
    }
    assert tokens.count_anthropic_tokens(longer) > tokens.count_anthropic_tokens(short) > 0
