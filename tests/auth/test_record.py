"""The account record: file names, times, re-login merge, refresh application, Codex import."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from cliproxy.auth.credentials import credential_from_record
from cliproxy.auth.errors import AccountInfoError, RefreshError
from cliproxy.auth.oauth import TokenBundle
from cliproxy.auth.record import (
    ImportRefused,
    account_filename,
    apply_refresh,
    auth_error_code,
    expiry_of,
    mark_auth_error,
    merge_relogin,
    parse_time,
    record_from_codex_auth,
    record_from_tokens,
    refresh_interval_of,
)
from tests.fakes.issuer import AUTH_CLAIM, PROFILE_CLAIM, unsigned_jwt

NOW = 1_780_000_000.0


def id_token(email: str | None = "u@example.com", plan: str = "plus", account: str = "acct_1",
             **extra: Any) -> str:
    payload: dict[str, Any] = {AUTH_CLAIM: {"chatgpt_account_id": account, "chatgpt_plan_type": plan}, **extra}
    if email is not None:
        payload["email"] = email
    return unsigned_jwt(payload)


def bundle(**overrides: Any) -> TokenBundle:
    values: dict[str, Any] = {"access_token": unsigned_jwt({"exp": int(NOW) + 100}), "refresh_token": "rt_1",
                              "id_token": id_token(), "expires_in": 864000}
    values.update(overrides)
    return TokenBundle(**values)


def test_file_name_always_carries_the_account_hash_when_known() -> None:
    # §9 test 3, hash-always variant (auth.md §1.9 Decision)
    hashed = hashlib.sha256(b"acct_T").hexdigest()[:8]
    assert account_filename("u@example.com", "team", "acct_T") == f"codex-{hashed}-u@example.com-team.json"
    assert account_filename("u@example.com", "", "") == "codex-u@example.com.json"
    assert account_filename("u@example.com", "Pro Lite", "").endswith("-pro-lite.json")
    assert account_filename("u@example.com", "self_serve_business_usage_based", "") == \
        "codex-u@example.com-self-serve-business-usage-based.json"


def test_file_name_cannot_escape_the_auth_dir() -> None:
    name = account_filename("../../etc/passwd", "plus", "")
    assert "/" not in name and not name.startswith(".")


def test_login_record_has_every_cpa_field() -> None:
    record = record_from_tokens(bundle(), NOW)
    assert set(record) == {"type", "email", "account_id", "id_token", "access_token", "refresh_token",
                           "expired", "last_refresh", "disabled"}
    assert record["type"] == "codex" and record["disabled"] is False
    assert record["email"] == "u@example.com" and record["account_id"] == "acct_1"
    assert parse_time(record["expired"]) == NOW + 864000
    assert parse_time(record["last_refresh"]) == NOW


def test_tokens_without_email_are_refused() -> None:
    # §9 test 12
    with pytest.raises(AccountInfoError, match="codex token storage missing account information"):
        record_from_tokens(bundle(id_token=id_token(email=None)), NOW)


def test_email_only_in_the_profile_claim_is_accepted() -> None:
    # §9 test 12 variant: our tolerant decoder (documented divergence)
    claims: dict[str, Any] = {PROFILE_CLAIM: {"email": "p@example.com"}}
    token = id_token(email=None, **claims)
    assert record_from_tokens(bundle(id_token=token), NOW)["email"] == "p@example.com"


def test_lenient_jwt_still_yields_email_account_and_plan() -> None:
    # §9 test 13: string aud, numeric last_checked; unsigned_jwt never pads
    token = unsigned_jwt({"aud": "app_x", "email": "u@example.com", AUTH_CLAIM: {
        "chatgpt_account_id": "acct_9", "chatgpt_plan_type": "pro", "chatgpt_subscription_last_checked": 5}})
    record = record_from_tokens(bundle(id_token=token), NOW)
    credential = credential_from_record(record, "x.json", "http://b")
    assert (credential.email, credential.account_id, credential.plan) == ("u@example.com", "acct_9", "pro")


def test_missing_expires_in_uses_the_access_token_exp() -> None:
    record = record_from_tokens(bundle(expires_in=None), NOW)
    assert parse_time(record["expired"]) == NOW + 100


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-01-02T03:04:05+02:00", datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC).timestamp()),
    ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()),
    ("2026-01-02T03:04:05.123456Z", datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC).timestamp()),
    ("2026-01-02 03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()),
    ("2026-01-02 03:04", datetime(2026, 1, 2, 3, 4, tzinfo=UTC).timestamp()),
    (1767323045, 1767323045.0),
    (1767323045123, 1767323045.123),
    ("1767323045", 1767323045.0),
    ("not a time", None),
    (True, None),
])
def test_every_cpa_time_format_parses(value: Any, expected: float | None) -> None:
    # §9 test 44 (time formats)
    assert parse_time(value) == pytest.approx(expected) if expected is not None else parse_time(value) is None


def test_expiry_aliases_and_nested_token_are_read() -> None:
    assert expiry_of({"expires_at": 5}) == 5.0
    assert expiry_of({"token": {"expiry": "1970-01-01T00:00:10Z"}}) == 10.0


@pytest.mark.parametrize(("value", "seconds"), [(3600, 3600.0), ("90m", 5400.0), ("1h30m", 5400.0),
                                                ("120", 120.0), ("soon", None), (0, None)])
def test_refresh_interval_accepts_numbers_and_durations(value: Any, seconds: float | None) -> None:
    assert refresh_interval_of({"refreshInterval": value}) == seconds


def test_relogin_keeps_custom_fields_and_replaces_tokens() -> None:
    # §9 test 17
    old = {"type": "codex", "email": "u@example.com", "access_token": "old", "refresh_token": "rt_old",
           "priority": 5, "proxy_url": "socks5://p", "headers": {"X-A": "1"}, "disabled": True,
           "auth_error": {"code": "refresh_token_reused"}}
    merged = merge_relogin(old, record_from_tokens(bundle(), NOW))
    assert merged["priority"] == 5 and merged["proxy_url"] == "socks5://p" and merged["headers"] == {"X-A": "1"}
    assert merged["disabled"] is True
    assert merged["refresh_token"] == "rt_1" and "auth_error" not in merged


def test_partial_refresh_keeps_what_was_not_returned() -> None:
    # §9 test 32 (our divergence: CPA would blank id_token and email)
    record = {**record_from_tokens(bundle(), NOW), "priority": 3}
    updated = apply_refresh(record, TokenBundle(access_token="a2", expires_in=60), NOW + 10)
    assert updated["access_token"] == "a2"
    assert updated["refresh_token"] == "rt_1" and updated["id_token"] == record["id_token"]
    assert updated["email"] == "u@example.com" and updated["priority"] == 3
    assert parse_time(updated["expired"]) == NOW + 70 and parse_time(updated["last_refresh"]) == NOW + 10


def test_auth_error_marker_applies_only_to_the_token_it_names() -> None:
    record = record_from_tokens(bundle(), NOW)
    failure = RefreshError("x", permanent=True, status=401, code="refresh_token_reused")
    marked = mark_auth_error(record, failure, NOW)
    assert auth_error_code(marked) == "refresh_token_reused"
    assert "rt_1" not in str(marked["auth_error"])
    assert auth_error_code({**marked, "refresh_token": "rt_new"}) == ""  # tokens replaced by hand
    assert auth_error_code({"auth_error": "unauthorized"}) == "unauthorized"


def codex_auth(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "auth_mode": "chatgpt", "OPENAI_API_KEY": None, "last_refresh": "2026-06-01T10:20:30.123456Z",
        "tokens": {"id_token": id_token(), "access_token": unsigned_jwt({"exp": int(NOW) + 500}),
                   "refresh_token": "rt_codex", "account_id": "acct_1"}}
    data.update(overrides)
    return data


def test_codex_import_maps_tokens_expiry_and_identity() -> None:
    # §9 test 46
    record = record_from_codex_auth(codex_auth(), NOW)
    assert record["type"] == "codex" and record["refresh_token"] == "rt_codex"
    assert record["email"] == "u@example.com" and record["account_id"] == "acct_1"
    assert parse_time(record["expired"]) == NOW + 500
    assert parse_time(record["last_refresh"]) == pytest.approx(
        datetime(2026, 6, 1, 10, 20, 30, tzinfo=UTC).timestamp(), abs=1)


def test_codex_import_without_exp_is_due_at_once() -> None:
    data = codex_auth()
    data["tokens"]["access_token"] = "opaque"
    assert parse_time(record_from_codex_auth(data, NOW)["expired"]) == NOW


@pytest.mark.parametrize("data", [
    {"auth_mode": "apikey", "OPENAI_API_KEY": "sk-x"},
    {"OPENAI_API_KEY": "sk-x", "tokens": {"access_token": "a", "refresh_token": "r"}},
])
def test_codex_api_key_logins_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ImportRefused, match="API key"):
        record_from_codex_auth(data, time.time())
