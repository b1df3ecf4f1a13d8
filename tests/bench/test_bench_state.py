"""``python -m bench --state redis``: the benchmark's cliproxy on a Redis of the run's own.

Given a real ``redis-server`` and ``cliproxy serve`` against the fake upstream, when the smoke plan
runs with the Redis state, then every response still matches byte for byte, cliproxy really ran on
that Redis (the run checks its ``/healthz``), and the report says which backend ran. ``BENCH_STATE``
chooses the same as the option, as ``BENCH_CLIENT_KEYS`` does for client keys.
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


def test_the_smoke_plan_on_redis_matches_and_says_so(tmp_path: Path) -> None:
    redis_binary()  # skips where no redis-server is installed (a failure in CI)
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--state", "redis", "--dialects", "chat",
                           "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    results = orjson.loads(next(tmp_path.glob("*-smoke.json")).read_bytes())
    assert results["skipped"] == {}
    assert results["plan"]["state"] == "redis"
    assert results["versions"]["redis"]
    assert {r["run"] for r in results["records"]} == {"direct", "cliproxy chat"}
    assert all(r["failed"] == 0 and r["ok"] == r["requests"] > 0 for r in results["records"])
    assert "State: redis (redis-server" in done.stdout


def test_bench_state_in_the_environment_chooses_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_STATE", "redis")
    assert build_plan(_parser().parse_args(["--smoke"])).state == "redis"
    assert build_plan(_parser().parse_args(["--smoke", "--state", "embedded"])).state == "embedded"
    monkeypatch.setenv("BENCH_STATE", "memcached")
    with pytest.raises(SystemExit, match="unknown state backend"):
        build_plan(_parser().parse_args(["--smoke"]))


def test_the_default_is_the_embedded_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_STATE", raising=False)
    assert build_plan(_parser().parse_args(["--smoke"])).state == "embedded"
