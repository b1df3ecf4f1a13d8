"""The model registry: routing names to credentials, effort mapping, list shapes."""

from __future__ import annotations

from typing import Any

import pytest

from cliproxy.config.catalogue import ModelInfo, bundled_catalogue
from cliproxy.config.load import parse_config
from cliproxy.config.models import ModelRegistry, ResolvedModel, apply_reasoning, split_suffix
from cliproxy.credential import Credential, OfferedModel
from cliproxy.errors import ProxyError
from cliproxy.responses.effort import budget_to_level
from cliproxy.server.model_lists import (
    anthropic_model_list,
    codex_model_catalogue,
    gemini_model_list,
    openai_model_list,
)


def oauth(cred_id: str = "a.json", plan: str = "plus", **fields: Any) -> Credential:
    return Credential(id=cred_id, kind="oauth", access_token="tok", base_url="https://x/codex",
                      plan=plan, **fields)


def api_key(cred_id: str = "api-key:0", models: tuple[OfferedModel, ...] = (), **fields: Any) -> Credential:
    return Credential(id=cred_id, kind="api-key", access_token="sk-up", base_url="http://127.0.0.1:1/v1",
                      models=models, **fields)


def build(credentials: list[Credential], config: dict[str, Any] | None = None,
          live: dict[str, list[ModelInfo]] | None = None) -> ModelRegistry:
    return ModelRegistry.build(parse_config(config or {}), credentials, live)


def ids(registry: ModelRegistry, include_hidden: bool = False) -> list[str]:
    return [m.id for m in registry.models(include_hidden)]


def effort(registry: ModelRegistry, name: str, body_effort: Any = None, same_family: bool = True) -> Any:
    body: dict[str, Any] = {} if body_effort is None else {"reasoning": {"effort": body_effort}}
    apply_reasoning(body, registry.resolve(name), same_family)
    return body.get("reasoning", {}).get("effort")


def live_model(model_id: str, levels: tuple[str, ...] = ("low", "medium", "high"), hidden: bool = False,
               entry: dict[str, Any] | None = None) -> ModelInfo:
    return ModelInfo(model_id, model_id.upper(), 0, 200000, 128000, levels, hidden=hidden, codex_entry=entry)


# --- plan lists ------------------------------------------------------------------------------


def test_plus_account_lists_the_plus_models_in_catalogue_order() -> None:
    listed = ids(build([oauth(plan="plus")]))
    assert listed[:5] == ["gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex-spark", "codex-auto-review"]
    assert "gpt-image-2" not in listed


def test_free_account_has_gpt_5_5_but_not_gpt_5_4_and_asking_for_it_is_404() -> None:
    registry = build([oauth(plan="free")])
    assert "gpt-5.5" in ids(registry)
    assert "gpt-5.4" not in ids(registry)
    assert "gpt-5.3-codex-spark" not in ids(registry)
    with pytest.raises(ProxyError) as caught:
        registry.resolve("gpt-5.4")
    assert caught.value.status == 404
    assert caught.value.code == "model_not_found"
    assert "gpt-5.4" in caught.value.message
    assert "gpt-5.5" in caught.value.message  # the hint names what is available


@pytest.mark.parametrize("plan", ["team", "business", "go", "Team"])
def test_team_like_plans_get_the_team_list(plan: str) -> None:
    listed = ids(build([oauth(plan=plan)]))
    assert "gpt-5.4" in listed
    assert "gpt-5.3-codex-spark" not in listed


@pytest.mark.parametrize("plan", ["pro", "", "enterprise-unknown"])
def test_pro_missing_and_unknown_plans_get_the_pro_list(plan: str) -> None:
    assert "gpt-5.3-codex-spark" in ids(build([oauth(plan=plan)]))


def test_bundled_catalogue_has_the_codex_gpt_6_models_with_their_levels() -> None:
    catalogue = bundled_catalogue()
    astra = catalogue.get("gpt-6-astra")
    luna = catalogue.get("gpt-6-luna")
    assert astra is not None and astra.levels == ("low", "medium", "high", "xhigh", "max", "ultra")
    assert luna is not None and luna.levels == ("low", "medium", "high", "xhigh", "max")
    for model_id in ("gpt-6.1-sol", "gpt-6.1-terra", "gpt-6-sol", "gpt-5.6-sol", "gpt-5.6-terra",
                     "gpt-5.6-luna"):
        assert model_id in ids(build([oauth(plan="pro")]))
    gpt54 = catalogue.get("gpt-5.4")
    assert gpt54 is not None
    assert (gpt54.created, gpt54.context_length, gpt54.max_completion_tokens) == (1772668800, 1050000, 128000)


def test_bundled_catalogue_has_codex_0_171s_gpt_6_2_models_and_500k_windows() -> None:
    """Codex CLI 0.171's own catalogue: gpt-6.2-sol and -astra, and the -sol/-terra models of 6.1 and 6.2
    at 500K tokens of context (the others stay at 272K): a window we state wrong makes Codex compact at the
    wrong time."""
    catalogue = bundled_catalogue()
    windows = {model_id: getattr(catalogue.get(model_id), "context_length", None)
               for model_id in ("gpt-6.2-sol", "gpt-6.2-astra", "gpt-6.1-sol", "gpt-6.1-terra", "gpt-6-sol")}
    assert windows == {"gpt-6.2-sol": 500000, "gpt-6.2-astra": 272000, "gpt-6.1-sol": 500000,
                       "gpt-6.1-terra": 500000, "gpt-6-sol": 272000}


def test_api_key_entry_without_models_serves_the_pro_list() -> None:
    assert "gpt-5.3-codex-spark" in ids(build([api_key()]))


def test_api_key_entry_with_models_serves_exactly_those_under_their_alias() -> None:
    key = api_key(models=(OfferedModel(name="gpt-5.4", alias="fast"), OfferedModel(name="my-custom")))
    registry = build([key])
    assert ids(registry) == ["fast", "my-custom"]
    fast = registry.resolve("fast")
    assert registry.upstream_name(fast, key) == "gpt-5.4"
    assert fast.info is not None and fast.info.levels == ("low", "medium", "high", "xhigh")
    custom = registry.resolve("my-custom")
    assert custom.info is None  # user-defined: thinking settings pass through
    assert registry.upstream_name(custom, key) == "my-custom"
    with pytest.raises(ProxyError):
        registry.resolve("gpt-5.4")


# --- special names ---------------------------------------------------------------------------


def test_auto_resolves_to_the_first_listed_model_and_keeps_the_suffix() -> None:
    registry = build([oauth()])
    model = registry.resolve("auto(high)")
    assert (model.id, model.suffix, model.requested) == ("gpt-5.5", "high", "auto(high)")


def test_auto_with_no_credentials_is_404_saying_why() -> None:
    with pytest.raises(ProxyError) as caught:
        build([]).resolve("auto")
    assert caught.value.status == 404
    assert "No loaded account" in caught.value.message


@pytest.mark.parametrize("name", ["gpt-image-2", "GPT-IMAGE-2(high)", "team/gpt-image-2"])
def test_gpt_image_2_is_refused_on_text_endpoints_with_503(name: str) -> None:
    with pytest.raises(ProxyError) as caught:
        build([oauth(prefix="team")]).resolve(name)
    assert caught.value.status == 503
    assert "/v1/images/generations" in caught.value.message


def test_names_match_case_insensitively_and_resolve_to_the_listed_spelling() -> None:
    model = build([oauth()]).resolve("GPT-5.4")
    assert model.id == "gpt-5.4"


# --- suffix syntax (docs/routes.md, "Reasoning effort") --------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-5.4(high)", ("gpt-5.4", "high")),
        ("gpt-5.4(16000)", ("gpt-5.4", "16000")),
        ("odd(name)(low)", ("odd(name)", "low")),
        ("gpt-5.4", ("gpt-5.4", None)),
        ("gpt-5.4(high", ("gpt-5.4(high", None)),
        ("(high)", ("(high)", None)),
    ],
)
def test_suffix_is_the_text_inside_the_last_parentheses(name: str, expected: tuple[str, str | None]) -> None:
    assert split_suffix(name) == expected


def test_the_suffix_never_reaches_the_upstream_name() -> None:
    credential = oauth()
    registry = build([credential])
    model = registry.resolve("gpt-5.4(high)")
    assert registry.upstream_name(model, credential) == "gpt-5.4"


def test_there_is_no_dash_suffix_form() -> None:
    with pytest.raises(ProxyError) as caught:
        build([oauth()]).resolve("gpt-5.4-high")
    assert caught.value.status == 404


# --- effort mapping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-5.4(high)", "high"),
        ("gpt-5.4(16000)", "high"),
        ("gpt-5.4(0)", "low"),
        ("gpt-5.4(auto)", "medium"),
        ("gpt-5.4(none)", "low"),
        ("gpt-5.4(-1)", "medium"),
        ("gpt-5.4(HIGH)", "high"),
        ("gpt-5.4(minimal)", "low"),
        ("gpt-5.4(max)", "xhigh"),
        ("gpt-5.4(ultra)", "xhigh"),
        ("gpt-5.4(100000)", "xhigh"),
        ("gpt-5.4(700)", "low"),
        ("gpt-5.4(300)", "low"),  # budget -> minimal -> nearest supported
        ("gpt-6-astra(max)", "max"),
        ("gpt-6-astra(ultra)", "ultra"),
        ("gpt-6-luna(ultra)", "max"),
    ],
)
def test_suffix_sets_the_effort_the_model_accepts(name: str, expected: str) -> None:
    assert effort(build([oauth(plan="pro")]), name, body_effort="medium") == expected


def test_the_suffix_wins_over_the_body() -> None:
    assert effort(build([oauth()]), "gpt-5.4(high)", body_effort="low") == "high"


@pytest.mark.parametrize("suffix", ["banana", "-5", "", "1.5"])
def test_a_meaningless_suffix_is_ignored_and_the_body_applies(suffix: str) -> None:
    assert effort(build([oauth()]), f"gpt-5.4({suffix})", body_effort="high") == "high"


def test_chat_minimal_maps_to_low_instead_of_cpa_400() -> None:  # our divergence
    assert effort(build([oauth()]), "gpt-5.4", body_effort="minimal", same_family=True) == "low"


def test_claude_and_gemini_values_are_clamped_too() -> None:
    registry = build([oauth()])
    assert effort(registry, "gpt-5.4", body_effort="minimal", same_family=False) == "low"
    assert effort(registry, "gpt-5.4", body_effort="max", same_family=False) == "xhigh"


def test_garbage_effort_is_a_400_listing_the_valid_levels() -> None:
    with pytest.raises(ProxyError) as caught:
        effort(build([oauth()]), "gpt-5.4", body_effort="banana")
    assert caught.value.status == 400
    assert "banana" in caught.value.message
    assert "low, medium, high, xhigh" in caught.value.message


def test_body_effort_as_a_budget_number_is_converted() -> None:
    assert effort(build([oauth()]), "gpt-5.4", body_effort=16000) == "high"


def test_no_thinking_setting_leaves_the_body_alone() -> None:
    body: dict[str, Any] = {"input": []}
    apply_reasoning(body, build([oauth()]).resolve("gpt-5.4"), True)
    assert body == {"input": []}


def test_the_rest_of_the_reasoning_object_is_kept() -> None:
    body: dict[str, Any] = {"reasoning": {"effort": "minimal", "summary": "auto"}}
    apply_reasoning(body, build([oauth()]).resolve("gpt-5.4"), True)
    assert body == {"reasoning": {"effort": "low", "summary": "auto"}}


# Translators turn client thinking settings into a level or a budget; these are Claude's and
# Gemini's settings carried through to the upstream effort.
@pytest.mark.parametrize(
    ("translated", "expected"),
    [
        (budget_to_level(512), "low"),  # Claude budget_tokens 512
        ("xhigh", "xhigh"),  # Claude adaptive without effort
        ("max", "xhigh"),  # Claude adaptive + output_config.effort max
        ("none", "low"),  # Claude disabled
        (budget_to_level(20000), "high"),  # Gemini thinkingBudget 20000
        ("LOW".lower(), "low"),  # Gemini thinkingLevel "LOW"
        (budget_to_level(-1), "medium"),  # Gemini thinkingBudget -1
    ],
)
def test_claude_and_gemini_conformance_numbers(translated: str, expected: str) -> None:
    assert effort(build([oauth()]), "gpt-5.4", body_effort=translated, same_family=False) == expected


@pytest.mark.parametrize(
    ("budget", "level"),
    [(-1, "auto"), (0, "none"), (1, "minimal"), (512, "minimal"), (513, "low"), (1024, "low"),
     (1025, "medium"), (8192, "medium"), (8193, "high"), (24576, "high"), (24577, "xhigh"),
     (1_000_000, "xhigh")],
)
def test_budget_to_level_boundaries(budget: int, level: str) -> None:
    assert budget_to_level(budget) == level


def test_budget_below_minus_one_is_invalid() -> None:
    with pytest.raises(ProxyError) as caught:
        budget_to_level(-2)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("name", "body_effort", "expected"),
    [
        ("custom-x(minimal)", None, "minimal"),
        ("custom-x(0)", None, "none"),
        ("custom-x(auto)", None, "auto"),
        ("custom-x(16000)", None, "high"),
        ("custom-x", "turbo", "turbo"),
    ],
)
def test_user_defined_models_pass_thinking_through(name: str, body_effort: Any, expected: str) -> None:
    registry = build([api_key(models=(OfferedModel(name="custom-x"),))])
    assert effort(registry, name, body_effort=body_effort) == expected


# --- aliases, exclusions, prefixes -----------------------------------------------------------


def test_alias_replaces_the_name_and_is_sent_upstream_as_the_name() -> None:
    credential = oauth()
    registry = build([credential], {"oauth-model-alias": {"codex": [{"name": "gpt-5.4", "alias": "fast"}]}})
    assert "fast" in ids(registry)
    assert "gpt-5.4" not in ids(registry)
    fast = registry.resolve("fast(high)")
    assert registry.upstream_name(fast, credential) == "gpt-5.4"
    assert effort(registry, "fast(high)") == "high"
    with pytest.raises(ProxyError):
        registry.resolve("gpt-5.4")


def test_alias_with_fork_lists_both() -> None:
    config = {"oauth-model-alias": {"codex": [{"name": "GPT-5.4", "alias": "fast", "fork": True}]}}
    listed = ids(build([oauth()], config))
    assert "fast" in listed and "gpt-5.4" in listed
    assert listed.index("gpt-5.4") < listed.index("fast") < listed.index("gpt-5.4-mini")


def test_oauth_alias_does_not_apply_to_api_key_entries() -> None:
    registry = build([api_key()], {"oauth-model-alias": {"codex": [{"name": "gpt-5.4", "alias": "fast"}]}})
    assert "gpt-5.4" in ids(registry)
    assert "fast" not in ids(registry)


@pytest.mark.parametrize(
    ("patterns", "gone", "kept"),
    [
        (["gpt-5.4*"], ["gpt-5.4", "gpt-5.4-mini"], ["gpt-5.5"]),
        (["*-mini"], ["gpt-5.4-mini"], ["gpt-5.4"]),
        (["*CODEX*"], ["gpt-5.3-codex-spark", "codex-auto-review"], ["gpt-5.5"]),
        (["gpt-5.5"], ["gpt-5.5"], ["gpt-5.4"]),
    ],
)
def test_oauth_excluded_models_take_wildcards(patterns: list[str], gone: list[str], kept: list[str]) -> None:
    listed = ids(build([oauth(plan="pro")], {"oauth-excluded-models": {"codex": patterns}}))
    assert not set(gone) & set(listed)
    assert set(kept) <= set(listed)


def test_per_credential_exclusions_only_affect_that_credential() -> None:
    a, b = oauth("a.json", excluded_models=("gpt-5.4",)), oauth("b.json")
    registry = build([a, b])
    assert registry.candidates(registry.resolve("gpt-5.4")) == (b,)
    assert registry.candidates(registry.resolve("gpt-5.5")) == (a, b)


def test_api_key_entries_honour_their_own_excluded_models_not_the_oauth_key() -> None:
    key = api_key(excluded_models=("*spark*",))
    listed = ids(build([key], {"oauth-excluded-models": {"codex": ["gpt-5.5"]}}))
    assert "gpt-5.3-codex-spark" not in listed
    assert "gpt-5.5" in listed


def test_excluding_the_upstream_name_also_removes_its_alias() -> None:
    config = {"oauth-model-alias": {"codex": [{"name": "gpt-5.4", "alias": "fast"}]},
              "oauth-excluded-models": {"codex": ["gpt-5.4"]}}
    assert "fast" not in ids(build([oauth()], config))


def test_prefix_registers_the_model_twice_and_is_stripped_upstream() -> None:
    a, b = oauth("a.json"), oauth("b.json", prefix="team")
    registry = build([b, a])
    team = registry.resolve("team/gpt-5.4(high)")
    assert (team.id, team.prefix, team.suffix) == ("gpt-5.4", "team", "high")
    assert registry.candidates(team) == (b,)
    assert registry.upstream_name(team, b) == "gpt-5.4"
    assert registry.candidates(registry.resolve("gpt-5.4")) == (a, b)  # id order
    assert "team/gpt-5.4" in ids(registry)
    assert ids(registry).index("gpt-5.4") < ids(registry).index("team/gpt-5.4")


def test_force_model_prefix_keeps_prefixed_credentials_off_bare_names() -> None:
    a, b = oauth("a.json"), oauth("b.json", prefix="/team/")
    registry = build([a, b], {"force-model-prefix": True})
    assert registry.candidates(registry.resolve("gpt-5.4")) == (a,)
    assert registry.candidates(registry.resolve("team/gpt-5.4")) == (b,)
    with pytest.raises(ProxyError):
        build([b], {"force-model-prefix": True}).resolve("gpt-5.4")


def test_prefixed_auto_picks_from_that_prefix() -> None:
    registry = build([oauth("a.json", plan="free"), oauth("b.json", prefix="team")])
    model = registry.resolve("team/auto")
    assert (model.prefix, model.id) == ("team", "gpt-5.5")


def test_a_slash_name_that_is_not_a_prefix_is_looked_up_whole() -> None:
    key = api_key(models=(OfferedModel(name="org/model-x"),))
    registry = build([key])
    assert registry.resolve("org/model-x").id == "org/model-x"


def test_api_key_alias_and_prefix_together() -> None:
    key = api_key(models=(OfferedModel(name="gpt-5.4", alias="fast"),), prefix="ext")
    registry = build([key])
    model = registry.resolve("ext/fast")
    assert registry.upstream_name(model, key) == "gpt-5.4"


def test_disabled_credentials_register_nothing() -> None:
    assert ids(build([oauth(disabled=True)])) == []


def test_upstream_name_for_a_credential_that_does_not_serve_the_model_is_an_error() -> None:
    a, b = oauth("a.json", plan="free"), oauth("b.json")
    registry = build([a, b])
    with pytest.raises(ValueError):
        registry.upstream_name(registry.resolve("gpt-5.4"), a)


# --- live catalogue --------------------------------------------------------------------------


def test_live_models_replace_the_bundled_plan_list_for_that_credential() -> None:
    a, b = oauth("a.json", plan="free"), oauth("b.json", plan="free")
    registry = build([a, b], live={"a.json": [live_model("gpt-6.1-sol")]})
    assert registry.candidates(registry.resolve("gpt-6.1-sol")) == (a,)
    assert registry.candidates(registry.resolve("gpt-5.5")) == (b,)
    assert registry.resolve("gpt-6.1-sol(max)").info == live_model("gpt-6.1-sol")
    assert effort(registry, "gpt-6.1-sol(max)") == "high"  # live levels rule


def test_hidden_live_models_are_routable_but_listed_only_for_codex() -> None:
    registry = build([oauth()], live={"a.json": [live_model("gpt-6.1-sol"),
                                                live_model("codex-auto-review", hidden=True)]})
    assert ids(registry) == ["gpt-6.1-sol"]
    assert ids(registry, include_hidden=True) == ["codex-auto-review", "gpt-6.1-sol"]
    assert registry.resolve("codex-auto-review").id == "codex-auto-review"


def test_empty_live_list_falls_back_to_bundled() -> None:
    assert "gpt-5.4" in ids(build([oauth()], live={"a.json": []}))


def test_live_aliases_apply_to_discovered_models() -> None:
    config = {"oauth-model-alias": {"codex": [{"name": "gpt-6.1-sol", "alias": "sol"}]}}
    registry = build([oauth()], config, live={"a.json": [live_model("gpt-6.1-sol")]})
    assert ids(registry) == ["sol"]


# --- list shapes (docs/routes.md, "Model lists") ---------------------------------------------


def test_openai_list_has_only_the_four_fields() -> None:
    shape = openai_model_list(build([oauth()]).models())
    assert shape["object"] == "list"
    assert {"id": "gpt-5.4", "object": "model", "created": 1772668800, "owned_by": "openai"} in shape["data"]
    assert all(set(item) == {"id", "object", "created", "owned_by"} for item in shape["data"])


def test_anthropic_list_shape() -> None:
    shape = anthropic_model_list(build([oauth()]).models())
    assert shape["has_more"] is False
    assert shape["first_id"] == "gpt-5.5"
    assert shape["last_id"] == shape["data"][-1]["id"]
    first = shape["data"][0]
    assert first == {"id": "gpt-5.5", "object": "model", "owned_by": "openai",
                     "created_at": "2026-04-23T00:00:00Z", "type": "model", "display_name": "GPT 5.5"}


def test_anthropic_list_when_empty() -> None:
    assert anthropic_model_list([]) == {"data": [], "has_more": False, "first_id": None, "last_id": None}


def test_gemini_list_names_are_prefixed_with_models() -> None:
    shape = gemini_model_list(build([oauth()]).models())
    entry = next(m for m in shape["models"] if m["name"] == "models/gpt-5.4")
    assert entry["displayName"] == "GPT 5.4"
    assert entry["supportedGenerationMethods"] == ["generateContent"]
    assert all(m["name"].startswith("models/") for m in shape["models"])


# Fields Codex CLI 0.169.0 refuses a catalogue without (checked against the binary).
CODEX_REQUIRED = {"slug", "display_name", "supported_reasoning_levels", "shell_type", "visibility",
                  "supported_in_api", "priority", "support_verbosity", "truncation_policy",
                  "experimental_supported_tools", "base_instructions"}


def test_codex_catalogue_from_bundled_models() -> None:
    shape = codex_model_catalogue(build([oauth()]).models(include_hidden=True))
    entry = next(m for m in shape["models"] if m["slug"] == "gpt-5.4")
    assert set(entry) >= CODEX_REQUIRED
    assert entry["base_instructions"]
    assert entry["context_window"] == 1050000
    assert entry["default_reasoning_level"] == "medium"
    assert [lv["effort"] for lv in entry["supported_reasoning_levels"]] == ["low", "medium", "high", "xhigh"]
    assert entry["visibility"] == "list" and entry["supported_in_api"] is True
    assert [m["priority"] for m in shape["models"]] == list(range(1, len(shape["models"]) + 1))


def test_codex_catalogue_passes_the_backend_entry_through_under_the_client_slug() -> None:
    backend_entry = {"slug": "gpt-6.1-sol", "display_name": "GPT-6.1-Sol", "base_instructions": "real prompt",
                     "priority": 1, "visibility": "list", "use_responses_lite": True}
    config = {"oauth-model-alias": {"codex": [{"name": "gpt-6.1-sol", "alias": "sol"}]}}
    registry = build([oauth()], config, live={"a.json": [
        live_model("codex-auto-review", hidden=True), live_model("gpt-6.1-sol", entry=backend_entry)]})
    shape = codex_model_catalogue(registry.models(include_hidden=True))
    sol = next(m for m in shape["models"] if m["slug"] == "sol")
    assert sol["base_instructions"] == "real prompt"
    assert sol["use_responses_lite"] is True
    assert backend_entry["slug"] == "gpt-6.1-sol"  # the stored entry is not modified
    review = next(m for m in shape["models"] if m["slug"] == "codex-auto-review")
    assert review["visibility"] == "hide"
    assert set(review) >= CODEX_REQUIRED


def test_codex_catalogue_drops_levels_codex_cannot_parse() -> None:
    odd = ModelInfo("odd", "Odd", 0, 0, 1, ("low", "warp"))
    entry = codex_model_catalogue([odd])["models"][0]
    assert [lv["effort"] for lv in entry["supported_reasoning_levels"]] == ["low"]
    assert entry["default_reasoning_level"] == "low"
    assert "context_window" not in entry


def test_resolved_model_is_a_plain_value() -> None:
    model = build([oauth()]).resolve("gpt-5.4")
    assert model == ResolvedModel("gpt-5.4", "gpt-5.4", "", None, bundled_catalogue().get("gpt-5.4"))
