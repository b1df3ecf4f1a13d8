"""Quota signals into per-account windows, and the pool view Codex CLI is shown (quota.md §1–3, §7)."""

from __future__ import annotations

from typing import Any

from cliproxy.pool.quota import LONG, SHORT, Family, Window, parse_event, parse_headers
from cliproxy.pool.quota_view import AccountQuota, pool_quota

NOW = 1_790_000_000.0
T1, T2 = NOW + 3600, NOW + 7200
PLANS = {"guest", "free", "go", "plus", "pro", "prolite", "free_workspace", "team",
         "self_serve_business_usage_based", "business", "enterprise_cbp_usage_based", "enterprise",
         "education", "edu", "quorum", "k12"}


def headers(primary: tuple[Any, Any, Any], secondary: tuple[Any, Any, Any] = ("0", "0", ""),
            **extra: str) -> dict[str, str]:
    out = {}
    for slot, (used, minutes, reset) in (("primary", primary), ("secondary", secondary)):
        out[f"x-codex-{slot}-used-percent"] = str(used)
        out[f"x-codex-{slot}-window-minutes"] = str(minutes)
        out[f"x-codex-{slot}-reset-at"] = str(reset)
    return {**out, **{k.replace("_", "-"): v for k, v in extra.items()}}


def quota_from(report_headers: dict[str, str]) -> AccountQuota:
    quota = AccountQuota()
    report = parse_headers(report_headers, NOW)
    assert report is not None
    quota.apply(report, NOW)
    return quota


def test_scenario_1_short_window_only() -> None:
    quota = quota_from(headers(("22", "300", str(int(T1)))))
    assert quota.windows() == {SHORT: Window(22.0, 300, T1)}


def test_scenario_2_weekly_window_in_the_primary_slot_is_long() -> None:
    quota = quota_from(headers(("29", "10080", str(int(T1)))))
    assert set(quota.windows()) == {LONG}
    body = pool_quota([(quota, "plus")], True, NOW).usage_body(NOW)
    assert body["rate_limit"]["primary_window"] is None
    assert body["rate_limit"]["secondary_window"]["limit_window_seconds"] == 604800
    assert body["rate_limit"]["secondary_window"]["used_percent"] == 29


def test_scenario_3_classified_by_length_not_slot_and_credits_parse() -> None:
    quota = quota_from(headers(("70", "10080", str(int(T2))), ("10", "300", str(int(T1))),
                               x_codex_credits_has_credits="False", x_codex_credits_unlimited="True"))
    assert quota.windows()[LONG].used_percent == 70 and quota.windows()[SHORT].used_percent == 10
    assert quota.credits is not None and (quota.credits.has_credits, quota.credits.unlimited) == (False, True)
    one = quota_from(headers(("1", "300", "")) | {"x-codex-credits-has-credits": "1",
                                                  "x-codex-credits-unlimited": "0"})
    assert one.credits is not None and one.credits.has_credits and not one.credits.unlimited


def test_scenario_4_other_family_is_kept_apart_and_does_not_block_codex() -> None:
    quota = quota_from(headers(("5", "300", str(int(T1))))
                       | {"x-codex-bengalfox-primary-used-percent": "100",
                          "x-codex-bengalfox-primary-window-minutes": "300",
                          "x-codex-bengalfox-primary-reset-at": str(int(T1)),
                          "x-codex-bengalfox-limit-name": "gpt-5.2-codex-sonic"})
    assert quota.families["codex_bengalfox"].windows[SHORT].used_percent == 100
    assert quota.blocked_until(NOW) == 0
    assert quota.model_blocked_until("gpt-5.2-codex-sonic", NOW) == T1
    assert quota.model_blocked_until("gpt-5.4", NOW) == 0


def test_reset_after_seconds_stands_in_for_a_missing_reset_at() -> None:
    quota = quota_from({"x-codex-primary-used-percent": "100", "x-codex-primary-window-minutes": "300",
                        "x-codex-primary-reset-after-seconds": "120"})
    assert quota.blocked_until(NOW) == NOW + 120


def test_no_quota_headers_is_no_report() -> None:
    assert parse_headers({"content-type": "text/event-stream"}, NOW) is None


def test_rate_limits_event_parses_like_the_headers() -> None:
    event = {"type": "codex.rate_limits", "plan_type": "pro", "metered_limit_name": "codex",
             "rate_limits": {"allowed": True, "limit_reached": False,
                             "primary": {"used_percent": 95, "window_minutes": 300, "reset_at": T1},
                             "secondary": {"used_percent": 40, "window_minutes": 10080, "reset_at": T2}},
             "credits": {"has_credits": False, "unlimited": False, "balance": None}}
    report = parse_event(event, NOW)
    assert report is not None
    quota = AccountQuota()
    quota.apply(report, NOW)
    assert quota.windows()[SHORT].used_percent == 95 and quota.windows()[LONG].reset_at == T2
    assert quota.plan == "pro"


def test_a_full_window_blocks_until_its_reset_and_an_elapsed_one_counts_zero() -> None:
    quota = quota_from(headers(("100", "300", str(int(T1)))))
    assert quota.blocked_until(NOW) == T1
    assert quota.blocked_until(T1 + 1) == 0
    assert quota.headroom(T1 + 1)[0] == 100


def test_a_429_usage_limit_blocks_until_its_reset() -> None:
    quota = AccountQuota()
    quota.limit_reached(NOW + 300, "plus", NOW)
    assert quota.blocked_until(NOW) == NOW + 300 and quota.blocked_until(NOW + 301) == 0


def test_headroom_is_the_binding_window() -> None:
    quota = quota_from(headers(("30", "300", str(int(T1))), ("80", "10080", str(int(T2)))))
    assert quota.headroom(NOW) == (20.0, T2)


def assert_codex_cli_decodes(body: dict[str, Any]) -> None:
    """The serde rules of quota.md §3.2: one violation and Codex CLI shows no limits."""
    assert body["plan_type"] in PLANS
    limit = body["rate_limit"]
    assert isinstance(limit["allowed"], bool) and isinstance(limit["limit_reached"], bool)
    for name in ("primary_window", "secondary_window"):
        window = limit[name]
        if window is not None:
            assert set(window) == {"used_percent", "limit_window_seconds", "reset_after_seconds", "reset_at"}
            assert all(type(v) is int and -2**31 <= v < 2**31 for v in window.values()), window
    credits = body["credits"]
    assert isinstance(credits["has_credits"], bool) and isinstance(credits["unlimited"], bool)
    assert credits["balance"] is None or isinstance(credits["balance"], str)
    for extra in body["additional_rate_limits"]:
        assert extra["limit_name"] and extra["metered_feature"]
    reached = body["rate_limit_reached_type"]
    assert reached is None or reached == {"type": "rate_limit_reached"}


def account(used: float, minutes: int, reset: float, plan: str = "") -> AccountQuota:
    return AccountQuota(families={"codex": Family({SHORT if minutes <= 1440 else LONG: Window(used, minutes, reset)})},
                        plan=plan)


def test_scenario_10_body_is_valid_even_with_fractions_and_unknown_plans() -> None:
    body = pool_quota([(account(12.5, 300, T1 + 0.7, plan="mystery"), "")], True, NOW).usage_body(NOW)
    assert_codex_cli_decodes(body)
    assert body["plan_type"] == "plus"


def test_scenario_11_one_account_full_one_free_is_allowed() -> None:
    view = pool_quota([(account(100, 10080, T2), "plus"), (account(10, 10080, T1), "pro")], True, NOW)
    body = view.usage_body(NOW)
    assert_codex_cli_decodes(body)
    assert body["rate_limit"]["allowed"] is True and body["rate_limit"]["limit_reached"] is False
    assert body["rate_limit_reached_type"] is None


def test_scenario_12_all_full_is_not_allowed() -> None:
    body = pool_quota([(account(100, 300, T1), "plus")], False, NOW).usage_body(NOW)
    assert_codex_cli_decodes(body)
    assert body["rate_limit"]["allowed"] is False and body["rate_limit"]["limit_reached"] is True
    assert body["rate_limit_reached_type"] == {"type": "rate_limit_reached"}


def test_scenario_13_mean_of_used_and_earliest_reset() -> None:
    body = pool_quota([(account(20, 300, T1), ""), (account(60, 300, T2), "")], True, NOW).usage_body(NOW)
    window = body["rate_limit"]["primary_window"]
    assert window == {"used_percent": 40, "limit_window_seconds": 18000,
                      "reset_after_seconds": int(T1 - NOW), "reset_at": int(T1)}
    elapsed = pool_quota([(account(20, 300, NOW - 5), ""), (account(60, 300, T2), "")], True, NOW)
    assert elapsed.usage_body(NOW)["rate_limit"]["primary_window"]["used_percent"] == 30
    assert elapsed.usage_body(NOW)["rate_limit"]["primary_window"]["reset_at"] == int(T2)


def test_an_account_without_data_counts_as_unused() -> None:
    view = pool_quota([(account(100, 300, T1), "plus"), (AccountQuota(), "plus")], True, NOW)
    assert view.short is not None and view.short.used_percent == 50 and view.long is None


def test_pool_view_as_event_and_headers() -> None:
    view = pool_quota([(account(20, 300, T1), "pro"), (account(60, 300, T2), "pro")], True, NOW)
    event = view.rate_limits_event()
    assert event["type"] == "codex.rate_limits" and event["plan_type"] == "pro"
    assert event["rate_limits"]["primary"] == {"used_percent": 40, "window_minutes": 300, "reset_at": int(T1)}
    assert event["rate_limits"]["secondary"] is None
    out = view.headers(NOW)
    again = parse_headers(out, NOW)
    assert again is not None and again.families["codex"].windows[SHORT].used_percent == 40


def test_state_round_trip() -> None:
    quota = quota_from(headers(("22", "300", str(int(T1))), ("70", "10080", str(int(T2))),
                               x_codex_credits_has_credits="true", x_codex_credits_unlimited="false",
                               x_codex_credits_balance="9.5", x_codex_plan_type="pro"))
    quota.limit_reached(NOW + 10, "", NOW)
    assert AccountQuota.from_dict(quota.to_dict()) == quota
