"""Upstream failures → status, type, code, outcome (vectors from CPA's tests, plus our outcomes)."""

from __future__ import annotations

import json

import pytest

from cliproxy.errors import Outcome
from cliproxy.upstream.classify import classify_http_error, classify_stream_error
from tests.vectors import load_vector


def test_error_classification_vector() -> None:
    vector = load_vector("codex_error_classification.json")
    for case, expected in zip(vector["input"]["cases"], vector["expected"]["cases"], strict=True):
        err = classify_http_error(case["status"], json.dumps(case["body"]).encode(), {}, 1700000000)
        assert err.status == expected["status"], case["name"]
        if expected["error.code"] is not None:
            assert err.code == expected["error.code"], case["name"]
            assert err.type == expected["error.type"], case["name"]
        assert err.message == case["body"]["error"]["message"], case["name"]


def test_unclassified_error_keeps_upstream_code() -> None:
    err = classify_http_error(502, b'{"error":{"message":"m","type":"server_error","code":"billing_config_error"}}',
                              {}, 0)
    assert (err.code, err.type, err.outcome) == ("billing_config_error", "server_error", Outcome.SERVER_ERROR)


def test_retry_after_vector() -> None:
    vector = load_vector("codex_error_retry_after.json")
    now = vector["input"]["now_unix"]
    for case, expected in zip(vector["input"]["cases"], vector["expected"]["cases"], strict=True):
        err = classify_http_error(case["status"], json.dumps(case["body"]).encode(), {}, now)
        want = next(v for k, v in expected.items() if k != "name")
        assert (err.retry_after if err.retry_after is None else int(err.retry_after)) == want, case["name"]


@pytest.mark.parametrize(("status", "body", "outcome"), [
    (429, {"error": {"type": "usage_limit_reached", "resets_in_seconds": 5}}, Outcome.QUOTA_EXHAUSTED),
    (429, {"error": {"message": "slow down", "type": "rate_limit_error"}}, Outcome.RATE_LIMITED),
    (429, {"error": {"code": "usage_not_included", "message": "plan"}}, Outcome.NO_QUOTA),
    (401, {"detail": "Unauthorized"}, Outcome.UNAUTHORIZED),
    (403, {"detail": "Forbidden"}, Outcome.FORBIDDEN),
    (400, {"detail": "The requested model is not supported."}, Outcome.MODEL_UNSUPPORTED),
    (400, {"detail": "Unsupported parameter: temperature"}, Outcome.BAD_REQUEST),
    (413, {"error": {"message": "too big"}}, Outcome.BAD_REQUEST),
    (503, {"detail": "upstream busy"}, Outcome.SERVER_ERROR),
])
def test_outcomes(status: int, body: dict, outcome: Outcome) -> None:  # type: ignore[type-arg]
    assert classify_http_error(status, json.dumps(body).encode(), {}, 0).outcome is outcome


def test_detail_message_is_kept_for_the_client() -> None:
    err = classify_http_error(400, b'{"detail":"Unsupported parameter: temperature"}', {}, 0)
    assert err.message == "Unsupported parameter: temperature" and not err.retryable


def test_cloudflare_challenge_detected() -> None:
    err = classify_http_error(403, b"<html><title>Just a moment...</title>cloudflare challenge-platform</html>",
                              {}, 0)
    assert err.outcome is Outcome.CLOUDFLARE and "<html" not in err.message


def test_stream_errors() -> None:
    overloaded = classify_stream_error({"type": "response.failed", "response": {"error": {
        "code": "server_is_overloaded", "message": "Our servers are currently overloaded."}}})
    assert overloaded.outcome is Outcome.SERVER_ERROR and overloaded.retryable
    context = classify_stream_error({"type": "error", "code": "context_length_exceeded",
                                     "message": "Your input exceeds the context window of this model."})
    assert (context.status, context.code) == (400, "context_too_large") and not context.retryable
    quota = classify_stream_error({"type": "error", "error": {"type": "usage_limit_reached",
                                                              "message": "limit", "resets_in_seconds": 60}})
    assert quota.outcome is Outcome.QUOTA_EXHAUSTED and quota.retry_after == 60
    cyber = classify_stream_error({"type": "error", "error": {"type": "invalid_request_error",
                                                              "code": "cyber_policy", "message": "no"}})
    assert cyber.status == 400 and not cyber.retryable


def test_a_non_json_error_page_is_quoted_briefly() -> None:
    err = classify_http_error(502, b"<html>" + b"x" * 10_000 + b"</html>", {}, 0)
    assert err.status == 502 and len(err.message) == 500 and err.retryable
