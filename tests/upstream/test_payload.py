"""``payload`` rules against CLIProxyAPI's documented examples (its config.example.yaml) and semantics."""

from __future__ import annotations

from typing import Any

from cliproxy.upstream.payload import apply_rules, parse_rules, request_facts, resolve, wildcard

BODY: dict[str, Any] = {"model": "gpt-5.4", "reasoning": {"effort": "medium", "summary": "auto"},
                        "tools": [{"type": "function", "name": "f"}, {"type": "web_search"}],
                        "metadata": {"client": "codex", "mode": "prod"}}
SCHEMA = '{"type":"json_schema","name":"answer","schema":{"type":"object"}}'


def run(payload: dict[str, Any], body: dict[str, Any] | None = None, model: str = "gpt-5.4",
        dialect: str = "openai", headers: dict[str, str] | None = None) -> dict[str, Any]:
    facts = request_facts((model,), dialect, headers or {})
    return apply_rules(parse_rules(payload), body or BODY, facts)


def test_the_documented_override_sets_effort_for_every_gpt_model_on_codex() -> None:
    payload = {"override": [{"models": [{"name": "gpt-*", "protocol": "codex"}],
                             "params": {"reasoning.effort": "high"}}]}
    assert run(payload)["reasoning"] == {"effort": "high", "summary": "auto"}
    assert BODY["reasoning"]["effort"] == "medium"  # the shared body is never changed
    assert run(payload, model="o3")["reasoning"]["effort"] == "medium"


def test_a_rule_for_another_protocol_never_applies_here() -> None:
    payload = {"override": [{"models": [{"name": "*", "protocol": "gemini"}], "params": {"x": 1}}]}
    assert "x" not in run(payload)


def test_default_sets_only_what_the_request_lacks_and_the_first_rule_wins() -> None:
    payload = {"default": [{"models": [{"name": "gpt-5.4"}],
                            "params": {"reasoning.effort": "low", "text.verbosity": "low"}},
                           {"models": [{"name": "*"}], "params": {"text.verbosity": "high"}}]}
    out = run(payload)
    assert out["reasoning"]["effort"] == "medium" and out["text"] == {"verbosity": "low"}


def test_override_last_rule_wins_and_raw_values_are_json_text() -> None:
    payload = {"override": [{"models": [{"name": "*"}], "params": {"service_tier": "flex"}},
                            {"models": [{"name": "gpt-5.4"}], "params": {"service_tier": "priority"}}],
               "override-raw": [{"models": [{"name": "gpt-*", "protocol": "codex"}],
                                 "params": {"text.format": SCHEMA, "broken": "{not json"}}]}
    out = run(payload)
    assert out["service_tier"] == "priority"
    assert out["text"]["format"] == {"type": "json_schema", "name": "answer", "schema": {"type": "object"}}
    assert "broken" not in out


def test_filter_removes_paths_and_conditions_gate_rules() -> None:
    payload = {"filter": [{"models": [{"name": "*", "match": [{"metadata.client": "codex"}],
                                       "not-match": [{"metadata.mode": "dev"}],
                                       "exist": ['tools.#(type=="web_search").type'],
                                       "not-exist": ["metadata.disable_payload"]}],
                           "params": ["metadata.mode", 'tools.#(type=="web_search")']}]}
    out = run(payload)
    assert out["metadata"] == {"client": "codex"} and out["tools"] == [{"type": "function", "name": "f"}]
    assert run(payload, body={**BODY, "metadata": {"client": "codex", "mode": "dev"}})["tools"] == BODY["tools"]


def test_from_protocol_and_header_conditions() -> None:
    payload = {"override": [{"models": [{"name": "*", "from-protocol": "claude",
                                         "headers": {"X-Client-Tier": "tenant-*-region-*"}}],
                             "params": {"tagged": True}}]}
    tier = {"x-client-tier": "tenant-7-region-eu"}
    assert run(payload, dialect="claude", headers=tier)["tagged"] is True
    assert "tagged" not in run(payload, dialect="openai", headers=tier)
    assert "tagged" not in run(payload, dialect="claude", headers={"x-client-tier": "other"})
    responses = {"override": [{"models": [{"name": "*", "from-protocol": "openai-response"}], "params": {"r": 1}}]}
    assert run(responses, dialect="openai-response")["r"] == 1


def test_paths_append_escape_and_query_every_match() -> None:
    body = {"input": [{"role": "user", "x": 1}, {"role": "user", "x": 2}, {"role": "developer"}], "a.b": 0}
    assert resolve(body, 'input.#(role=="user")#.x') == [["input", 0, "x"], ["input", 1, "x"]]
    params = {'input.#(role=="user")#.x': 9, "input.-1": {"role": "end"}, "a\\.b": 5}
    out = run({"override": [{"models": [{"name": "*"}], "params": params}]}, body=body)
    assert [item.get("x") for item in out["input"]] == [9, 9, None, None] and out["input"][-1] == {"role": "end"}
    assert out["a.b"] == 5
    assert wildcard("gemini-*-pro", "gemini-2.5-pro") and not wildcard("gpt-*", "o3")
