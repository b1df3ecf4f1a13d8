"""The socket-session row: a Codex-like tool session of many turns, through cliproxy, three ways.

Each turn the client sends a tool's output (16 KiB, a file it was asked to read), so by turn 20 the
transcript is past 300 KiB. The ways:

- ``websocket → websocket``: the client's socket sends each follow-up as ``previous_response_id`` and
  the new output only; the account may use the backend's socket, so the follow-up goes on as is;
- ``websocket → http``: the same client, an account with ``websockets: false``: the proxy rebuilds
  the whole transcript for every turn and POSTs it;
- ``http → http``: a client without WebSocket POSTs the whole transcript every turn.

Per way: the bytes the backend received per turn (the request body, or the frame), and the time a
turn takes through cliproxy less the same turn sent straight to the fake the same way (the time
cliproxy adds). Run it alone: ``python -m bench --socket-session --reps 3``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from .socket_fake import PATH, SocketFake, serving
from .targets import ACCOUNT, CLIPROXY_CONFIG, REPO, free_port, launch, wait_ready

MODEL = "gpt-5.4"
TOOL_OUTPUT_BYTES = 16 * 1024
INSTRUCTIONS = "You are a coding agent. " * 400  # about 10 KiB, as Codex's own instructions
TOOLS = [{"type": "function", "name": "exec_command", "description": "Run a shell command. " * 20,
          "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]
WAYS = ("websocket → websocket", "websocket → http", "http → http")


@dataclass
class WayResult:
    """One way's turns: bytes upstream and seconds through cliproxy and direct, per turn, every rep."""

    upstream_bytes: list[int] = field(default_factory=list)
    proxied: list[list[float]] = field(default_factory=list)
    direct: list[list[float]] = field(default_factory=list)


def request(items: list[Any], previous: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "instructions": INSTRUCTIONS, "tools": TOOLS, "input": items,
                            "stream": True, "store": False, "prompt_cache_key": "bench-session"}
    if previous is not None:
        body["previous_response_id"] = previous
    return body


def tool_output(number: int, call_id: str) -> dict[str, Any]:
    line = f"# file {number}: " + "x" * 60 + "\n"
    return {"type": "function_call_output", "call_id": call_id,
            "output": (line * (TOOL_OUTPUT_BYTES // len(line) + 1))[:TOOL_OUTPUT_BYTES]}


async def socket_session(url: str, headers: dict[str, str], turns: int) -> list[float]:
    """Seconds per turn, a Codex-like client on one socket (follow-ups incremental)."""
    seconds = []
    async with connect(url, additional_headers=headers, max_size=None) as ws:
        items: list[Any] = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}]
        previous = None
        for number in range(1, turns + 1):
            started = time.perf_counter()
            await ws.send(orjson.dumps({"type": "response.create", **request(items, previous)}).decode())
            completed = await _until_completed(ws)
            seconds.append(time.perf_counter() - started)
            previous = completed["response"]["id"]
            items = [tool_output(number, completed["response"]["output"][0]["call_id"])]
    return seconds


async def _until_completed(ws: ClientConnection) -> dict[str, Any]:
    while True:
        event = orjson.loads(await ws.recv())
        if event["type"] == "response.completed":
            return dict(event)
        if event["type"] == "error":
            raise RuntimeError(f"error frame: {event}")


async def http_session(url: str, headers: dict[str, str], turns: int) -> list[float]:
    """Seconds per turn, a client that POSTs the whole transcript every turn."""
    seconds = []
    transcript: list[Any] = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}]
    async with httpx.AsyncClient(timeout=60) as client:
        for number in range(1, turns + 1):
            started = time.perf_counter()
            answer = await client.post(url, headers=headers, content=orjson.dumps(request(transcript, None)))
            completed = orjson.loads(answer.content.rsplit(b"data: ", 1)[1])
            seconds.append(time.perf_counter() - started)
            call = completed["response"]["output"][0]
            transcript += [call, tool_output(number, call["call_id"])]
    return seconds


def start_cliproxy(fake_port: int, workdir: Path, websockets: bool) -> Any:
    """``cliproxy serve`` from this checkout against the fake, one account (its ``websockets`` as given)."""
    auth = workdir / "auth"
    auth.mkdir(parents=True, exist_ok=True)
    (auth / "codex-bench@example.com.json").write_bytes(orjson.dumps({**ACCOUNT, "websockets": websockets}))
    (workdir / "config.yaml").write_text(CLIPROXY_CONFIG)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "CLIPROXY_AUTH_DIR": str(auth),
           "CLIPROXY_CONFIG": str(workdir / "config.yaml"),
           "CLIPROXY_CODEX_BASE_URL": f"http://127.0.0.1:{fake_port}/backend-api/codex"}
    server = launch("cliproxy", [sys.executable, "-m", "cliproxy", "serve", "--port", str(port)], workdir, env)
    server.port = port
    asyncio.run(wait_ready(server, "/healthz"))
    return server


async def one_way(way: str, fake_port: int, proxy_port: int, turns: int) -> tuple[list[float], list[float]]:
    """(through cliproxy, straight to the fake) seconds per turn."""
    codex = {"originator": "codex_exec", "user-agent": "codex_exec/0.171.0", "session-id": "bench-session"}
    fake_http, proxy_http = f"127.0.0.1:{fake_port}{PATH}", f"127.0.0.1:{proxy_port}/v1/responses"
    if way.startswith("websocket"):
        return (await socket_session("ws://" + proxy_http, codex, turns),
                await socket_session("ws://" + fake_http, {**codex, "authorization": "Bearer bench-token"}, turns))
    return (await http_session("http://" + proxy_http, codex, turns),
            await http_session("http://" + fake_http, {**codex, "authorization": "Bearer bench-token"}, turns))


def run(turns: int, reps: int) -> dict[str, WayResult]:
    results = {way: WayResult() for way in WAYS}
    fake = SocketFake()
    with serving(fake.app) as fake_port, tempfile.TemporaryDirectory() as tmp:
        for way in WAYS:
            server = start_cliproxy(fake_port, Path(tmp) / way.replace(" ", ""), way != "websocket → http")
            try:
                for rep in range(reps):
                    fake.received.clear()
                    proxied, direct = asyncio.run(one_way(way, fake_port, server.port, turns))
                    results[way].proxied.append(proxied)
                    results[way].direct.append(direct)
                    if rep == 0:
                        results[way].upstream_bytes = [size for _, size in fake.received[:turns]]
            finally:
                server.stop()
    return results


def markdown(results: dict[str, WayResult], turns: int, reps: int) -> str:
    lines = [f"Socket session: {turns} turns, tool output {TOOL_OUTPUT_BYTES // 1024} KiB per turn, {reps} rep(s); "
             "times are medians per turn over reps", "",
             "| way | upstream KiB turn 1 | upstream KiB turn 20 | upstream KiB total | added ms/turn (mean) | "
             "added ms turn 20 |", "|---|---|---|---|---|---|"]
    for way, result in results.items():
        added = [statistics.median(p[i] - d[i] for p, d in zip(result.proxied, result.direct, strict=True))
                 for i in range(turns)]
        sizes = result.upstream_bytes
        lines.append(f"| {way} | {sizes[0] / 1024:.1f} | {sizes[-1] / 1024:.1f} | {sum(sizes) / 1024:.0f} | "
                     f"{statistics.mean(added) * 1e3:.2f} | {added[-1] * 1e3:.2f} |")
    return "\n".join(lines) + "\n"


def main(turns: int, reps: int, out: Path) -> int:
    results = run(turns, reps)
    text = markdown(results, turns, reps)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + "-socket-session"
    (out / f"{stamp}.md").write_text(text)
    (out / f"{stamp}.json").write_bytes(orjson.dumps({way: vars(r) for way, r in results.items()}))
    sys.stdout.write(text + f"\nResults: {out / stamp}.md and .json\n")
    return 0


__all__ = ["WAYS", "main", "markdown", "run"]
