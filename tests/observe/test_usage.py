"""Usage history: what the fake backend reported is what the history sums, the writer never holds up a
request (even with the database locked), and a clean shutdown loses nothing."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from cliproxy.observe.usage import UsageRecord, UsageWriter, connect, prune, read_records, summary, usage_path
from tests.fakes.codex_backend import FakeCodex
from tests.fakes.codex_events import USAGE
from tests.helpers import write_account
from tests.serve_process import run_configured, serve

CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}


def upstream(fake: FakeCodex) -> str:
    return fake.url + "/backend-api/codex"  # type: ignore[attr-defined,no-any-return]


def record(ts: float, **overrides: object) -> UsageRecord:
    base: dict[str, object] = dict(
        ts=ts, request_id="r", client_key="sk-1…abcd", account="a@example.com", model="gpt-5.4", dialect="openai",
        endpoint="/v1/chat/completions", effort="medium", input_tokens=10, cached_tokens=4, output_tokens=5,
        reasoning_tokens=2, total_tokens=15, ttft_ms=120.0, duration_ms=800.0, status=200, error="", stream=True)
    base.update(overrides)
    return UsageRecord(**base)  # type: ignore[arg-type]


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cliproxy", *args], capture_output=True, text=True, timeout=60,
                          env={"HOME": str(home), "PATH": "/usr/bin:/bin", "COLUMNS": "140"})


def locked(path: Path) -> sqlite3.Connection:
    """Another process holding the write lock (e.g. a backup tool)."""
    connect(path).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_requests_through_the_proxy_sum_to_the_backends_usage(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with run_configured(tmp_path, upstream(fake), "api-keys: [sk-client-one, sk-client-two]\n") as proxy:
        for index in range(6):
            key = "sk-client-one" if index % 2 else "sk-client-two"
            response = httpx.post(proxy.v1 + "/chat/completions", json={**CHAT, "stream": index < 3},
                                  headers={"authorization": f"Bearer {key}"})
            assert response.status_code == 200
        writer = proxy.services.ops.usage
        assert writer is not None and writer.flush()
        result = summary(writer.path, 0, time.time() + 1)
    totals = result["totals"]
    assert totals["requests"] == 6 and totals["failed"] == 0
    assert (totals["input_tokens"], totals["cached_tokens"], totals["output_tokens"],
            totals["reasoning_tokens"], totals["total_tokens"]) == (
        6 * USAGE["input_tokens"], 6 * USAGE["input_tokens_details"]["cached_tokens"], 6 * USAGE["output_tokens"],
        6 * USAGE["output_tokens_details"]["reasoning_tokens"], 6 * USAGE["total_tokens"])
    assert [(row["key"], row["requests"]) for row in result["by_key"]] == [("sk-c…-one", 3), ("sk-c…-two", 3)]
    assert [(row["account"], row["requests"]) for row in result["by_account"]] == [("a@example.com", 6)]
    records = read_records(writer.path)
    assert sum(r.stream for r in records) == 3 and all(r.ttft_ms is not None for r in records if r.stream)
    assert all("sk-client" not in r.client_key for r in records)


def test_a_locked_database_never_holds_up_a_request(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with run_configured(tmp_path, upstream(fake)) as proxy:
        writer = proxy.services.ops.usage
        assert writer is not None
        holder = locked(writer.path)
        for _ in range(5):
            assert httpx.post(proxy.v1 + "/chat/completions", json=CHAT, timeout=10).status_code == 200
        assert writer.flush(timeout=1.5) is False  # still locked: the records wait in memory
        holder.execute("ROLLBACK")
        holder.close()
        assert writer.flush(timeout=10)
        assert summary(writer.path, 0, time.time() + 1)["totals"]["requests"] == 5


def test_the_writer_keeps_records_while_locked_and_writes_them_at_stop(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    writer = UsageWriter(path, busy_timeout=0.05, retry_delay=0.05, flush_interval=0.01)
    writer.start()
    holder = locked(path)
    for index in range(50):
        writer.record(record(time.time(), request_id=str(index)))

    def release() -> None:
        holder.execute("ROLLBACK")
        holder.close()

    threading.Timer(0.5, release).start()
    writer.stop(timeout=10)
    assert [r.request_id for r in read_records(path)] == [str(i) for i in range(50)]
    assert writer.dropped == 0


def test_records_past_retention_or_size_are_pruned(tmp_path: Path) -> None:
    conn = connect(tmp_path / "usage.sqlite3")
    now = time.time()
    rows = [record(now - 100 * 86400, request_id="old"),
            *(record(now - 300 + i, request_id=f"new{i}") for i in range(300))]
    with conn:
        conn.executemany("INSERT INTO requests (ts, request_id, client_key, account, model, dialect, endpoint, "
                         "effort, input_tokens, cached_tokens, output_tokens, reasoning_tokens, total_tokens, "
                         "ttft_ms, duration_ms, status, error, stream) VALUES "
                         "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         [tuple(getattr(r, f) for f in r.__slots__) for r in rows])
    assert prune(conn, retention_days=90, max_bytes=10**9, now=now) == 1
    removed = prune(conn, retention_days=90, max_bytes=4096, now=now)
    left = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    assert removed > 0 and left == 300 - removed
    newest = conn.execute("SELECT request_id FROM requests ORDER BY ts DESC LIMIT 1").fetchone()[0]
    assert newest == "new299"  # the oldest go first
    conn.close()


@pytest.mark.parametrize("stream", [True, False])
def test_a_clean_shutdown_loses_no_record(tmp_path: Path, fake: FakeCodex, stream: bool) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with serve(tmp_path, upstream(fake), "models:\n  discovery: false\n") as server:
        for _ in range(7):
            assert server.chat(stream=stream).status_code == 200
        assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM after its graceful shutdown
    records = list(read_records(usage_path(server.config)))
    assert len(records) == 7 and {r.stream for r in records} == {stream}


def test_cliproxy_usage_prints_the_tables(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("")
    writer = UsageWriter(usage_path(config))
    writer.start()
    now = time.time()
    for index in range(4):
        writer.record(record(now - index, account="b@example.com" if index else "a@example.com"))
    writer.stop()
    result = cli("usage", "--config", str(config), "--by", "day,account,model,key", home=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "by account" in out and "a@example.com" in out and "b@example.com" in out
    assert "gpt-5.4" in out and "sk-1…abcd" in out and "60" in out  # 4 × 15 total tokens
    empty = cli("usage", "--config", str(tmp_path / "elsewhere" / "none.yaml"), home=tmp_path)
    assert empty.returncode == 0 and "No requests recorded" in empty.stdout
