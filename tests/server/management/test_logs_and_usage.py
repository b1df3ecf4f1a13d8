"""Usage aggregates, application log lines and request/error logs through the management API."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import httpx
import pytest

from tests.fakes.codex_backend import Reply
from tests.fakes.codex_events import USAGE
from tests.server.management.conftest import ACCESS_A, CLIENT_KEY, Managed


def test_usage_aggregates_match_the_backend(managed: Managed) -> None:
    for index in range(4):
        assert managed.chat(stream=bool(index % 2)).status_code == 200
    usage = managed.api.get("/usage").json()
    assert usage["enabled"] is True and usage["totals"]["requests"] == 4
    assert usage["totals"]["total_tokens"] == 4 * USAGE["total_tokens"]
    assert usage["totals"]["cached_tokens"] == 4 * USAGE["input_tokens_details"]["cached_tokens"]
    assert [row["model"] for row in usage["by_model"]] == ["gpt-5.4"]
    assert len(usage["by_day"]) == 1 and usage["by_account"][0]["account"] == "a@example.com"
    only_models = managed.api.get("/usage", params={"group": "model", "days": 1}).json()
    assert "by_model" in only_models and "by_day" not in only_models
    assert managed.api.get("/usage", params={"days": "many"}).status_code == 400
    assert managed.api.get("/usage", params={"group": "planet"}).status_code == 400


def test_usage_per_hour_over_the_last_hours(managed: Managed) -> None:
    before = time.time()
    assert [managed.chat().status_code for _ in range(3)] == [200, 200, 200]
    after = time.time()
    usage = managed.api.get("/usage", params={"hours": 24, "group": "hour,model"}).json()
    assert usage["totals"]["requests"] == 3 and usage["until"] - usage["since"] == 24 * 3600
    assert sum(row["requests"] for row in usage["by_hour"]) == 3 and "by_day" not in usage
    for row in usage["by_hour"]:  # the start of an hour of the server's clock, with its UTC offset
        start = datetime.fromisoformat(row["hour"]).timestamp()
        assert before - 3600 < start <= after and start % 900 == 0
    earlier = managed.api.get("/usage", params={"hours": 1, "until": before - 1, "group": "hour"}).json()
    assert earlier["totals"]["requests"] == 0 and earlier["by_hour"] == []


@pytest.mark.parametrize("query", [{"hours": "0"}, {"hours": "2161"}, {"hours": "1.5"}, {"hours": "soon"},
                                   {"hours": "-3"}, {"hours": "24", "days": "1"}])
def test_a_bad_number_of_hours_is_a_400_that_says_why(managed: Managed, query: dict[str, str]) -> None:
    answer = managed.api.get("/usage", params=query)
    assert answer.status_code == 400
    assert answer.json()["error"] in ("hours must be a whole number from 1 to 2160", "give days or hours, not both")


@pytest.mark.parametrize("days", ["0", "-1", "nan", "inf", "91", "many"])
def test_a_bad_number_of_days_is_a_400_that_says_why(managed: Managed, days: str) -> None:
    answer = managed.api.get("/usage", params={"days": days})
    assert answer.status_code == 400
    assert answer.json()["error"] == "days must be a number above 0 and at most 90"
    assert managed.api.get("/usage", params={"days": "0.5"}).status_code == 200  # half a day is a window too


def test_application_logs_are_read_after_a_cursor_and_cleared(managed: Managed,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # as `cliproxy serve` sets it
    managed.api.put("/request-retry", json={"value": 1})  # logs "reloaded (management API)"
    logs = managed.api.get("/logs").json()
    assert any("reloaded (management API)" in line for line in logs["lines"])
    later = managed.api.get("/logs", params={"after": logs["latest-timestamp"]}).json()
    assert later["lines"] == [] or all("reloaded (management API)" not in x for x in later["lines"])
    assert managed.api.get("/logs", params={"after": "yesterday"}).status_code == 400
    assert managed.api.delete("/logs").status_code == 200
    left = managed.api.get("/logs", params={"after": time.time() - 60}).json()["lines"]
    assert not any("reloaded (management API)" in line for line in left), left


def test_failed_requests_leave_redacted_error_logs(managed: Managed) -> None:
    managed.fake.script(ACCESS_A, Reply(status=400, body={"detail": "Unsupported parameter: frobnicate"}))
    assert managed.chat().status_code == 400
    assert managed.chat().status_code == 200  # successes leave no log while request-log is off
    log_dir = managed.config_file.parent / "logs"

    def listed() -> list[dict[str, object]]:
        files: list[dict[str, object]] = managed.api.get("/request-error-logs").json()["files"]
        return files

    deadline = time.monotonic() + 10
    while not listed() and time.monotonic() < deadline:
        time.sleep(0.02)
    files = listed()
    assert len(files) == 1 and str(files[0]["name"]).startswith("error-")
    name = str(files[0]["name"])
    text = managed.api.get(f"/request-error-logs/{name}").text
    assert "status: 400" in text and "frobnicate" in text and "[redacted]" in text
    assert (log_dir / name).stat().st_mode & 0o777 == 0o600
    request_id = name.rsplit("-", 1)[1].removesuffix(".log")
    assert managed.api.get(f"/request-log-by-id/{request_id}").text == text
    assert managed.api.get("/request-log-by-id/nope").status_code == 404
    assert managed.api.get("/request-error-logs/request-x.log").status_code == 404
    assert managed.api.get("/request-error-logs/..%2Fconfig.yaml").status_code == 404


def test_a_compaction_is_in_the_usage_history_and_the_request_log(managed: Managed) -> None:
    assert managed.api.put("/request-log", json={"value": True}).status_code == 200
    body = {"model": "gpt-5.4", "input": [{"role": "user", "content": "a long conversation"}]}
    answer = httpx.post(managed.proxy.v1 + "/responses/compact", json=body,
                        headers={"authorization": f"Bearer {CLIENT_KEY}"})
    assert answer.status_code == 200 and answer.json()["object"] == "response.compaction"
    deadline = time.monotonic() + 10
    while managed.api.get("/usage").json()["totals"]["requests"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    usage = managed.api.get("/usage").json()
    assert usage["totals"]["requests"] == 1 and usage["totals"]["input_tokens"] == 3  # the compaction's usage
    assert usage["by_account"][0]["account"] == "a@example.com"
    log_dir = managed.config_file.parent / "logs"
    while not list(log_dir.glob("*.log")) and time.monotonic() < deadline:
        time.sleep(0.02)
    logged = "".join(path.read_text() for path in log_dir.glob("*.log"))
    assert "/v1/responses/compact" in logged and "response.compaction" in logged
