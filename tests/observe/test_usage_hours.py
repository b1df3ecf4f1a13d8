"""Usage per hour: records at known instants land in the hour of the server's clock that holds them,
named by its start and the clock's UTC offset, and a window of N hours holds exactly what happened in
it. The server's time zone is set per test (``TZ``), as an operator's machine would have it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cliproxy.observe.usage import UsageWriter, summary
from tests.observe.test_usage import record

HOUR = 3600.0


def utc(text: str) -> float:
    """A Unix time from an ISO date and time read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture
def server_zone() -> Iterator[Callable[[str], None]]:
    """Sets the process's local time zone, as ``TZ`` does for a server started under it."""
    before = os.environ.get("TZ")

    def use(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield use
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def history(tmp_path: Path, *instants: float, tokens: int = 15) -> Path:
    path = tmp_path / "usage.sqlite3"
    writer = UsageWriter(path)
    writer.start()
    for index, ts in enumerate(instants):
        writer.record(record(ts, request_id=f"r{index}", total_tokens=tokens))
    writer.stop()
    return path


def by_hour(path: Path, since: float, until: float) -> list[tuple[str, int]]:
    return [(row["hour"], row["requests"]) for row in summary(path, since, until, ["hour"])["by_hour"]]


def test_records_fall_in_the_hour_of_the_servers_clock(tmp_path: Path, server_zone: Callable[[str], None]) -> None:
    server_zone("Europe/Berlin")  # UTC+1 in December
    path = history(tmp_path, utc("2026-12-06T13:00:00"), utc("2026-12-06T13:59:59.9996"),
                   utc("2026-12-06T14:00:00"), utc("2026-12-06T23:30:00"))
    result = summary(path, utc("2026-12-06T00:00:00"), utc("2026-12-07T00:00:00"), ["hour", "day"])
    assert [(r["hour"], r["requests"], r["total_tokens"]) for r in result["by_hour"]] == [
        ("2026-12-06T14:00+01:00", 2, 30), ("2026-12-06T15:00+01:00", 1, 15), ("2026-12-07T00:00+01:00", 1, 15)]
    assert [r["day"] for r in result["by_day"]] == ["2026-12-06", "2026-12-07"]  # the same clock as the days
    for row in result["by_hour"]:
        assert datetime.fromisoformat(row["hour"]).minute == 0


def test_the_hour_repeated_when_the_clock_goes_back_is_two_rows_in_order(
        tmp_path: Path, server_zone: Callable[[str], None]) -> None:
    server_zone("Europe/Berlin")  # 2026-10-25 03:00 CEST becomes 02:00 CET
    first, second = utc("2026-10-25T00:30:00"), utc("2026-10-25T01:30:00")  # both 02:30 on the wall
    path = history(tmp_path, first, second, second + 60)
    assert by_hour(path, first - HOUR, second + HOUR) == [("2026-10-25T02:00+02:00", 1),
                                                          ("2026-10-25T02:00+01:00", 2)]


@pytest.mark.parametrize(("zone", "rows"), [
    ("Asia/Kolkata", [("2026-12-06T14:00+05:30", 2)]),  # 14:15 and 14:45 on the wall
    ("America/St_Johns", [("2026-12-06T05:00-03:30", 2)]),  # 05:15 and 05:45
    ("UTC", [("2026-12-06T08:00+00:00", 1), ("2026-12-06T09:00+00:00", 1)]),
])
def test_hours_follow_the_local_clock_in_zones_off_the_full_hour(
        tmp_path: Path, server_zone: Callable[[str], None], zone: str, rows: list[tuple[str, int]]) -> None:
    server_zone(zone)
    instants = (utc("2026-12-06T08:45:00"), utc("2026-12-06T09:15:00"))
    path = history(tmp_path, *instants)
    assert by_hour(path, utc("2026-12-06T00:00:00"), utc("2026-12-07T00:00:00")) == rows
    start = datetime.fromisoformat(rows[0][0]).timestamp()
    assert start <= instants[0] < start + HOUR  # the label names the instant its hour began


def test_a_window_of_24_hours_holds_exactly_what_happened_in_it(
        tmp_path: Path, server_zone: Callable[[str], None]) -> None:
    server_zone("Europe/Berlin")
    until = utc("2026-12-06T13:20:00")  # 14:20 on the server's clock
    since = until - 24 * HOUR
    path = history(tmp_path, since - 0.001, since, since + 1800, until - 0.001, until)
    result = summary(path, since, until, ["hour"])
    assert result["totals"]["requests"] == 3  # the first instant is in, the last one out
    assert [(r["hour"], r["requests"]) for r in result["by_hour"]] == [
        ("2026-12-05T14:00+01:00", 2), ("2026-12-06T14:00+01:00", 1)]
    assert sum(r["requests"] for r in result["by_hour"]) == result["totals"]["requests"]


def test_cliproxy_usage_by_hour(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("")
    now = time.time()
    history(tmp_path, now - 2 * HOUR, now - 2 * HOUR + 1, now - 30 * HOUR)  # the history sits next to the config
    table = subprocess.run([sys.executable, "-m", "cliproxy", "usage", "--config", str(config), "--days", "1",
                            "--by", "hour"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "HOME": str(tmp_path), "COLUMNS": "140"})
    assert table.returncode == 0, table.stderr
    label = datetime.fromtimestamp(now - 2 * HOUR).strftime("%Y-%m-%dT%H:00")
    assert "by hour" in table.stdout and label in table.stdout and " 2 " in table.stdout
