"""Model mappings and the way each request goes, on plain data."""

from __future__ import annotations

from cliproxy.amp.mapping import ModelMapper, Way, decide
from cliproxy.config.ampcode import ModelMapping

LOCAL = {"gpt-5.2", "gpt-5.2-codex"}


def serves(name: str) -> bool:
    return name.lower() in LOCAL


def mapper(*entries: tuple[str, str, bool]) -> tuple[ModelMapper, list[str]]:
    warnings: list[str] = []
    built = ModelMapper.build([ModelMapping(from_=f, to=t, regex=r) for f, t, r in entries], warnings.append)
    return built, warnings


def test_exact_entries_match_any_casing_and_beat_an_earlier_regex() -> None:
    built, _ = mapper(("^claude-.*$", "gpt-5.2-codex", True), ("Claude-Opus-4-6", "gpt-5.2", False))
    assert built.lookup("claude-opus-4-6", serves) == "gpt-5.2"
    assert built.lookup("CLAUDE-HAIKU-4-5", serves) == "gpt-5.2-codex"


def test_an_invalid_regex_is_skipped_with_a_warning_and_the_next_entry_still_works() -> None:
    built, warnings = mapper(("(", "gpt-5.2", True), ("haiku", "gpt-5.2-codex", True))
    assert built.lookup("claude-haiku-4-5", serves) == "gpt-5.2-codex"
    assert len(warnings) == 1 and "invalid regex" in warnings[0]


def test_the_thinking_suffix_is_kept_unless_the_target_has_its_own() -> None:
    built, _ = mapper(("gpt-5.2-alias", "gpt-5.2", False), ("fixed", "gpt-5.2(high)", False))
    assert built.lookup("gpt-5.2-alias(xhigh)", serves) == "gpt-5.2(xhigh)"
    assert built.lookup("fixed(low)", serves) == "gpt-5.2(high)"
    assert built.lookup("gpt-5.2-alias()", serves) == "gpt-5.2"


def test_a_target_the_pool_lacks_maps_nothing() -> None:
    built, _ = mapper(("claude-opus-4-6", "not-a-model", False))
    assert decide("claude-opus-4-6", built, serves, force=False).way is Way.UPSTREAM
    assert decide("claude-opus-4-6", built, serves, force=True).way is Way.UPSTREAM


def test_local_first_unless_mappings_are_forced() -> None:
    built, _ = mapper(("gpt-5.2-codex", "gpt-5.2", False))
    assert decide("gpt-5.2-codex", built, serves, force=False).way is Way.LOCAL
    forced = decide("gpt-5.2-codex", built, serves, force=True)
    assert (forced.way, forced.model) == (Way.MAPPED, "gpt-5.2")
    local = decide("gpt-5.2(xhigh)", built, serves, force=False)
    assert (local.way, local.model) == (Way.LOCAL, "gpt-5.2(xhigh)")
