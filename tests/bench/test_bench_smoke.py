"""The benchmark's smoke mode runs in CI so the harness cannot rot.

Given the fake Codex upstream and a real ``cliproxy serve`` pointed at it, when ``python -m bench
--smoke`` sends a few streaming requests directly and through every served dialect, then every
response carries exactly the text the fake streamed, byte for byte, with its terminal event.
The load generator is the measuring tool, so its reading of split responses is checked too.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.codex_stream import chunked_frames
from bench.content import VARIANTS, expected_text
from bench.loadgen import ResponseParser
from bench.wire import WIRES, summarise

REPO = Path(__file__).resolve().parents[2]
DELTAS = 200


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Any]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    found = sorted(out.glob("*-smoke.json"))
    assert found, f"no results written\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done, orjson.loads(found[-1].read_bytes())


def test_every_response_matches_byte_for_byte(smoke: tuple[Any, dict[str, Any]]) -> None:
    done, results = smoke
    assert done.returncode == 0, done.stdout + done.stderr

    runs: dict[str, list[dict[str, Any]]] = {}
    for record in results["records"]:
        runs.setdefault(record["run"], []).append(record)
    assert results["skipped"] == {}
    assert set(runs) == {"direct", "cliproxy chat", "cliproxy responses", "cliproxy anthropic"}
    for label, records in runs.items():
        for record in records:
            assert record["failed"] == 0, (label, record["errors"])
            assert record["ok"] == record["requests"] > 0
            assert record["content_events"] == record["requests"] * DELTAS, label


def test_table_names_every_column(smoke: tuple[Any, dict[str, Any]]) -> None:
    done, results = smoke
    header = results["table"].splitlines()[0]
    for label in ("direct", "cliproxy chat", "cliproxy responses", "cliproxy anthropic"):
        assert label in header
    assert "responses matching byte for byte" in done.stdout


def _response_bytes(variant: int) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
    return head + b"".join(chunked_frames(variant, 30)) + b"0\r\n\r\n"


@settings(max_examples=60, deadline=None)
@given(variant=st.integers(0, VARIANTS - 1), cuts=st.lists(st.integers(1, 8000), max_size=40))
def test_loadgen_reads_a_response_however_it_is_split(variant: int, cuts: list[int]) -> None:
    raw = _response_bytes(variant)
    loop = asyncio.new_event_loop()
    try:
        done: asyncio.Future[None] = loop.create_future()
        response = ResponseParser(WIRES["codex"].read, 0.0, done)
        edges = sorted({c for c in cuts if c < len(raw)} | {0, len(raw)})
        for start, end in itertools.pairwise(edges):
            response.feed(raw[start:end])
        assert done.done() and done.exception() is None
        assert not math.isnan(response.ttft)
        summary = summarise(bytes(response.body), WIRES["codex"].read)
        assert summary.terminal
        assert summary.text == expected_text(variant, 30)
        assert summary.content_events == 30
    finally:
        loop.close()
