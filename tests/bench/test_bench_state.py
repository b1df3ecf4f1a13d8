"""``python -m bench --state redis``: the benchmark's cliproxy on a Redis of the run's own, alone or
beside cliproxy on the embedded state (``--state embedded,redis``).

Given a real ``redis-server`` and ``cliproxy serve`` against the fake upstream, when the smoke plan
runs on both backends, then each cliproxy has its own column, every response still matches byte for
byte, the Redis one really ran on that Redis (the run checks its ``/healthz``), and the report says
which backend each ran on. ``BENCH_STATE`` chooses the same as the option, as ``BENCH_CLIENT_KEYS``
does for client keys.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bench.__main__ import _parser, build_plan
from tests.fakes.redis_server import redis_binary

REPO = Path(__file__).resolve().parents[2]


def test_the_smoke_plan_on_both_backends_matches_and_says_which_is_which(tmp_path: Path) -> None:
    redis_binary()  # skips where no redis-server is installed (a failure in CI)
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--state", "embedded,redis", "--dialects",
                           "chat", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    results = orjson.loads(next(tmp_path.glob("*-smoke.json")).read_bytes())
    assert results["skipped"] == {}
    assert results["plan"]["states"] == ["embedded", "redis"]
    assert {"cliproxy", "cliproxy-redis", "redis"} <= set(results["versions"])
    assert {r["run"] for r in results["records"]} == {"direct", "cliproxy chat", "cliproxy-redis chat"}
    assert all(r["failed"] == 0 and r["ok"] == r["requests"] > 0 for r in results["records"])
    assert set(results["rss_idle_bytes"]) >= {"cliproxy", "cliproxy-redis"}
    header = next(line for line in done.stdout.splitlines() if line.startswith("| per server"))
    assert header.index("cliproxy chat") < header.index("cliproxy-redis chat")  # side by side
    assert "cliproxy: embedded (one process" in done.stdout
    assert "cliproxy-redis: redis (redis-server" in done.stdout


def test_bench_state_in_the_environment_chooses_the_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_STATE", "redis")
    assert build_plan(_parser().parse_args(["--smoke"])).states == ("redis",)
    assert build_plan(_parser().parse_args(["--smoke", "--state", "embedded"])).states == ("embedded",)
    monkeypatch.setenv("BENCH_STATE", "embedded,redis,redis")
    assert build_plan(_parser().parse_args(["--smoke"])).servers() == ["cliproxy", "cliproxy-redis"]
    monkeypatch.setenv("BENCH_STATE", "memcached")
    with pytest.raises(SystemExit, match=r"unknown value.*memcached; choose from embedded, redis"):
        build_plan(_parser().parse_args(["--smoke"]))


def test_the_default_is_the_embedded_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_STATE", raising=False)
    plan = build_plan(_parser().parse_args(["--smoke"]))
    assert plan.states == ("embedded",)
    assert [run.label for run in plan.runs()] == ["direct", "cliproxy chat", "cliproxy responses", "cliproxy anthropic"]
