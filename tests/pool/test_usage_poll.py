"""Usage reads per account, the routed view, and prefer-earlier-reset routing."""

from __future__ import annotations

import asyncio

import pytest

from cliproxy.config.load import parse_config
from cliproxy.config.schema import ConfigError
from cliproxy.errors import Outcome
from cliproxy.pool.core import Pool
from cliproxy.pool.poller import QuotaPoller, chatgpt_backend_base, usage_url
from cliproxy.pool.quota import LONG, SHORT, parse_usage
from cliproxy.upstream.codex import CodexUpstream
from tests.fakes.codex_backend import FakeCodex, Reply, usage_body
from tests.pool.helpers import MODEL, Clock, cred, failure

NOW = 1_790_000_000.0
DAY = 86400.0


@pytest.mark.parametrize(("base", "expected"), [
    ("https://chatgpt.com/backend-api/codex", "https://chatgpt.com/backend-api"),
    ("https://chatgpt.com/backend-api/codex/", "https://chatgpt.com/backend-api"),
    ("http://127.0.0.1:9/backend-api", "http://127.0.0.1:9/backend-api"),
    ("https://chatgpt.com", "https://chatgpt.com/backend-api"),
])
def test_chatgpt_backend_is_derived_from_the_codex_base(base: str, expected: str) -> None:
    assert chatgpt_backend_base(base) == expected


def test_usage_url_default_and_override() -> None:
    config = parse_config({})
    assert usage_url(config, config.codex_base_url) == "https://chatgpt.com/backend-api/wham/usage"
    custom = parse_config({"quota": {"usage-url": "http://127.0.0.1:1/u"}})
    assert usage_url(custom, custom.codex_base_url) == "http://127.0.0.1:1/u"


def test_quota_config_section() -> None:
    config = parse_config({"quota": {"poll-interval": 60, "client-view": "routed", "backend-passthrough": False},
                           "routing": {"prefer-earlier-reset": False}})
    assert config.quota.poll_interval == 60 and config.quota.client_view == "routed"
    assert config.quota.backend_passthrough is False and config.routing.prefer_earlier_reset == "off"
    defaults = parse_config({})
    assert (defaults.quota.poll_interval, defaults.quota.client_view, defaults.quota.backend_passthrough) == (
        0, "pool", True)
    with pytest.raises(ConfigError, match=r"quota\.client-view"):
        parse_config({"quota": {"client-view": "mine"}})
    with pytest.raises(ConfigError, match=r"routing\.prefer-earlier-reset"):
        parse_config({"routing": {"prefer-earlier-reset": "soon"}})


def test_a_usage_answer_becomes_windows_classified_by_length() -> None:
    body = usage_body(short=42, long=100, plan="pro", reset_at=int(NOW))
    body["rate_limit"]["primary_window"]["limit_window_seconds"] = 18001  # minutes round up: 301
    body["additional_rate_limits"] = [{"limit_name": "gpt-5.2-codex-sonic", "metered_feature": "codex_other",
                                       "rate_limit": {"allowed": True, "limit_reached": False,
                                                      "primary_window": {"used_percent": 7,
                                                                         "limit_window_seconds": 18000,
                                                                         "reset_after_seconds": 10,
                                                                         "reset_at": int(NOW) + 10}}}]
    report = parse_usage(body, NOW)
    assert report is not None and report.plan == "pro" and report.source == "usage"
    windows = report.families["codex"].windows
    assert windows[SHORT].used_percent == 42 and windows[SHORT].window_minutes == 301
    assert windows[LONG].used_percent == 100 and windows[LONG].reset_at == NOW + 604800
    assert report.families["codex_other"].windows[SHORT].used_percent == 7
    assert report.families["codex_other"].limit_name == "gpt-5.2-codex-sonic"
    assert parse_usage({"detail": "nope"}, NOW) is None and parse_usage([1], NOW) is None


def test_a_full_window_read_by_the_poll_blocks_until_its_reset() -> None:
    clock = Clock(NOW)
    a, b = cred("a"), cred("b")
    pool = Pool([a, b], "round-robin", clock=clock)
    assert pool.observe_usage(a, usage_body(short=100, long=20, reset_at=int(NOW)))
    assert [pool.pick([a, b], model=MODEL).email[0] for _ in range(3)] == list("bbb")
    clock.advance(18001)  # the short window's reset_at passed: 0 % again
    assert sorted(pool.pick([a, b], model=MODEL).email[0] for _ in range(2)) == ["a", "b"]


def test_routed_view_is_the_sessions_account() -> None:
    clock = Clock(NOW)
    a, b = cred("a", plan="pro"), cred("b")
    pool = Pool([a, b], "round-robin", clock=clock)
    pool.observe_usage(a, usage_body(short=70, plan="pro", reset_at=int(NOW)))
    assert pool.pick([a, b], model=MODEL, session="conv-1") == a
    bound = pool.session_credential(["nothing", "conv-1"])
    assert bound == a
    view = pool.account_view(bound).usage_body(NOW)
    assert view["rate_limit"]["primary_window"]["used_percent"] == 70 and view["plan_type"] == "pro"
    assert pool.session_credential(["other"]) is None
    clock.advance(3601)  # the binding expired
    assert pool.session_credential(["conv-1"]) is None
    pool.record(b, MODEL, failure(Outcome.NO_QUOTA, 429))
    assert pool.account_view(b).usage_body(clock.now)["rate_limit"]["allowed"] is False


def _reset_in(days: float) -> dict[str, str]:
    return {"x-codex-primary-used-percent": "10", "x-codex-primary-window-minutes": "10080",
            "x-codex-primary-reset-at": str(int(NOW + days * DAY))}


def test_prefer_earlier_reset_serves_the_soonest_reset_first() -> None:
    clock = Clock(NOW)
    a, b, c, d = cred("a"), cred("b"), cred("c"), cred("d")
    pool = Pool([a, b, c, d], "round-robin", clock=clock, prefer_earlier_reset="long")
    for account, days in ((a, 5), (b, 1.1), (c, 1.3), (d, 3)):  # b, c: the same calendar day
        pool.observe_headers(account, _reset_in(days))

    def picks(count: int) -> str:
        return "".join(pool.pick([a, b, c, d], model=MODEL).email[0] for _ in range(count))

    assert picks(4) == "bcbc"  # b and c reset on the same day: round-robin between them
    pool.record(b, MODEL, failure(Outcome.QUOTA_EXHAUSTED, 429, retry_after=30))
    assert picks(2) == "cc"
    pool.record(c, MODEL, failure(Outcome.QUOTA_EXHAUSTED, 429, retry_after=30))
    assert picks(2) == "dd"
    clock.advance(31)
    assert picks(2) == "bc"
    off = Pool([a, b, c, d], "round-robin", clock=clock)
    assert "".join(off.pick([a, b, c, d], model=MODEL).email[0] for _ in range(4)) == "abcd"


def test_prefer_earlier_reset_tries_unknown_accounts_first_and_falls_back_to_the_other_window() -> None:
    clock = Clock(NOW)
    a, b, c = cred("a"), cred("b"), cred("c")
    pool = Pool([a, b, c], "fill-first", clock=clock, prefer_earlier_reset="short")
    pool.observe_headers(a, _reset_in(4))  # only a long window: used for want of a short one
    pool.observe_headers(b, {"x-codex-primary-used-percent": "50", "x-codex-primary-window-minutes": "300",
                             "x-codex-primary-reset-at": str(int(NOW + 7200))})
    assert pool.pick([a, b, c], model=MODEL) == c  # never seen: tried first, then placed
    pool.observe_headers(c, _reset_in(6))
    assert pool.pick([a, b, c], model=MODEL) == b  # resets in 2 h
    clock.advance(7201)  # b's window reset: its next reset is unknown again
    assert pool.pick([a, b, c], model=MODEL) == b
    pool.observe_headers(b, _reset_in(5))
    assert pool.pick([a, b, c], model=MODEL) == a  # 4 days < 5 < 6


@pytest.fixture
def poll_setup(fake: FakeCodex) -> tuple[Pool, Clock, CodexUpstream]:
    base = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    clock = Clock(NOW)
    accounts = [cred("a", base_url=base, account_id="acc-1"), cred("b", base_url=base, account_id="acc-2"),
                cred("off", base_url=base, disabled=True),
                cred("key", kind="api-key", base_url=base, access_token="sk-upstream")]
    return Pool(accounts, clock=clock), clock, CodexUpstream(parse_config({}))


async def test_on_demand_reads_only_stale_accounts_one_at_a_time_each(
        fake: FakeCodex, poll_setup: tuple[Pool, Clock, CodexUpstream]) -> None:
    pool, clock, upstream = poll_setup
    config = parse_config({"quota": {"poll-interval": 600}})
    poller = QuotaPoller(pool, upstream, lambda: config, clock=clock)
    fake.script_usage("tok-a", Reply(body=usage_body(short=64, reset_at=int(NOW))))
    try:
        await asyncio.gather(poller.refresh(60), poller.refresh(60))  # concurrent asks share the reads
        assert sorted(r.headers["authorization"] for r in fake.usage_requests()) == ["Bearer tok-a", "Bearer tok-b"]
        assert pool.state("codex-a.json").quota.windows()[SHORT].used_percent == 64
        clock.advance(30)
        await poller.refresh(60)
        assert len(fake.usage_requests()) == 2  # read 30 s ago: fresh enough
        clock.advance(31)
        await poller.refresh(60, only=[cred("a")])
        assert [r.headers["chatgpt-account-id"] for r in fake.usage_requests()[2:]] == ["acc-1"]
    finally:
        await upstream.aclose()


async def test_unreadable_or_failed_reads_change_nothing(
        fake: FakeCodex, poll_setup: tuple[Pool, Clock, CodexUpstream]) -> None:
    pool, clock, upstream = poll_setup
    config = parse_config({"quota": {"poll-interval": 600}})
    poller = QuotaPoller(pool, upstream, lambda: config, clock=clock)
    fake.script_usage("tok-a", Reply(status=500, body={"detail": "boom"}))
    fake.script_usage("tok-b", Reply(body=b"not json"))
    try:
        await poller.refresh(60)
    finally:
        await upstream.aclose()
    assert len(fake.usage_requests()) == 2
    for cid in ("codex-a.json", "codex-b.json"):
        state = pool.state(cid)
        assert state.outcome is None and state.errors == 0 and not state.quota.families
