"""Where cliproxy spends its CPU under burst load: a py-spy recording and its hot spots.

``python -m bench --profile-server chat [--concurrency 50]`` starts the fake and cliproxy (pinned as in the benchmark),
keeps 50 streams running while py-spy samples the server from the load core, and writes the
collapsed stacks plus a summary (top functions by own time and by time including callees).
py-spy is a development tool, not a dependency: ``.venv/bin/pip install py-spy``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson

from .loadgen import post_json, run_level
from .targets import HOST, LOAD_CORE, REPO, pin_self, pinned, start_cliproxy, start_fake
from .wire import WIRES

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _py_spy() -> str | None:
    local = REPO / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module path after site-packages or src)``."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


# Frames every sample passes through on its way to the event loop: not worth listing.
_BOOTSTRAP = ("typer/", "click/", "uvicorn/main.py", "uvicorn/server.py", "uvicorn/_compat.py",
              "asyncio/runners.py", "cliproxy/cli.py", "(cliproxy)")


def _package(name: str) -> str:
    path = name.rsplit("(", 1)[-1].rstrip(")")
    return path.split("/", 1)[0] if "/" in path else path


def _percent(counter: Counter[str], total: int, top: int) -> list[str]:
    return [f"- {n / total:6.1%}  {name}" for name, n in counter.most_common(top)]


def summarise(collapsed: str, top: int = 20) -> str:
    """Top functions by own samples, by package, and by inclusive samples, as markdown lists."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        count = int(match["count"])
        frames = [_short(f) for f in match["stack"].split(";") if f]
        total += count
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            if not any(mark in name for mark in _BOOTSTRAP):
                inclusive[name] += count
    if not total:
        return "no samples (is py-spy allowed to ptrace the server?)\n"
    packages: Counter[str] = Counter()
    for name, n in own.items():
        packages[_package(name)] += n
    lines = [f"{total} samples of the server while busy (idle waits excluded; "
             "`Runner.run (asyncio/runners.py)` as a leaf is the event loop's own C code and syscalls).",
             "", "Own time by package:", *_percent(packages, total, 12),
             "", "Own time (leaf frames):", *_percent(own, total, top),
             "", "Including callees:", *_percent(inclusive, total, top)]
    return "\n".join(lines) + "\n"


async def _load(port: int, dialect: str, until: float, concurrency: int, deltas: int) -> int:
    sent = 0
    while time.monotonic() < until:
        level = await run_level(HOST, port, WIRES[dialect], requests=4 * concurrency,
                                concurrency=concurrency, delta_count=deltas, first_seed=sent)
        sent += len(level.results)
    return sent


async def _record(dialect: str, seconds: float, out: Path, pin: bool, workdir: Path, concurrency: int,
                  deltas: int) -> Path:
    spy = _py_spy()
    if spy is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    fake = start_fake(pin)
    pin_self(pin)
    server = None
    try:
        server = await start_cliproxy(fake.port, workdir, pin)
        body = orjson.dumps({"delta_count": deltas, "first_delay": 0.0, "inter_delay": 0.0})
        await post_json(HOST, fake.port, "/_bench/profile", body)
        await _load(server.port, dialect, time.monotonic() + 2, concurrency, deltas)  # warm-up
        raw = out / f"profile-{dialect}-c{concurrency}-d{deltas}.txt"
        assert server.proc is not None
        cmd = [*pinned(LOAD_CORE, pin), spy, "record", "--pid", str(server.proc.pid), "--rate", "250",
               "--duration", str(int(seconds)), "--format", "raw", "--nonblocking", "--output", str(raw)]
        spy_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        await asyncio.sleep(0.5)
        await _load(server.port, dialect, time.monotonic() + seconds, concurrency, deltas)
        _, err = spy_proc.communicate(timeout=seconds + 30)
        if spy_proc.returncode != 0:
            raise SystemExit(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
        return raw
    finally:
        if server is not None:
            server.stop()
        fake.stop()


def profile_server(dialect: str, seconds: float, out: Path, pin: bool = True, concurrency: int = 50,
                   deltas: int = 200) -> int:
    """Record, summarise, print; 0 on success."""
    if dialect not in WIRES or dialect == "codex":
        raise SystemExit(f"unknown dialect {dialect}")
    out.mkdir(parents=True, exist_ok=True)
    from .fake_upstream import install_fast_loop

    install_fast_loop()
    with tempfile.TemporaryDirectory(prefix="cliproxy-profile-") as workdir:
        raw = asyncio.run(_record(dialect, seconds, out, pin, Path(workdir), concurrency, deltas))
    title = f"# cliproxy under burst load, concurrency {concurrency}, {dialect}, {deltas} deltas\n\n"
    summary = title + summarise(raw.read_text())
    raw.with_suffix(".md").write_text(summary)
    sys.stdout.write(summary + f"\nCollapsed stacks: {raw}\n")
    return 0
