"""Starting and stopping the processes under test: the fake upstream, nginx, cliproxy.

Servers run pinned to their own core with ``taskset`` when pinning is on; the runner pins itself
(the load generator) and the fake to the other core. Every process started here is stopped here,
by its own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .loadgen import post_json
from .procstat import TreeMeter

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
LOAD_CORE, SERVER_CORE = 0, 1

ACCOUNT = {
    "type": "codex",
    "access_token": "bench-token",
    "account_id": "acc-bench",
    "email": "bench@example.com",
    "id_token": "",
    "refresh_token": "",
    "expired": "2099-01-01T00:00:00Z",
    "disabled": False,
}
CLIPROXY_CONFIG = """\
# Written by bench/targets.py for one benchmark run.
host: 127.0.0.1
usage-statistics-enabled: false
request-log: false
debug: false
models:
  discovery: false
"""


def client_keys_config(count: int, key: str = "sk-bench") -> str:
    """``count`` client keys with limits, ``key`` (what the load generator sends) the last of them, so
    the benchmark measures a key found among many and reserved and settled on every request."""
    if count <= 0:
        return ""
    lines = ["client-keys:"]
    for index in range(count):
        secret = key if index == count - 1 else f"sk-bench-other-{index:04d}-{'x' * 24}"
        lines += [f"  - name: bench-{index}", f"    key: {secret}", "    limits:",
                  "      - {requests: 1000000000, per: minute}",
                  "      - {tokens: 1000000000000, per: day, window: calendar}"]
    return "\n".join(lines) + "\n"


def state_config(url: str) -> str:
    """cliproxy's ``state:`` section for a Redis at ``url`` (``--state redis``)."""
    return f"state:\n  backend: redis\n  url: {url}\n  prefix: bench\n"


class TargetError(RuntimeError):
    """A target could not be started; the message says why (the runner skips it with a note)."""


@dataclass
class Server:
    """A running server: where to reach it and how to meter it."""

    name: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    meter: TreeMeter | None = None
    version: str = ""
    log: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def pinned(core: int, pin: bool) -> list[str]:
    """The ``taskset`` prefix for a command, or nothing when pinning is off or impossible."""
    if pin and shutil.which("taskset") and (os.cpu_count() or 1) > core:
        return ["taskset", "-c", str(core)]
    return []


def pin_self(pin: bool) -> bool:
    """Pin this process (the load generator) to the load core; False when not possible."""
    if not pin or (os.cpu_count() or 1) < 2:
        return False
    os.sched_setaffinity(0, {LOAD_CORE})
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_fake(pin: bool) -> Server:
    """The fake Codex upstream in its own process; reads ``PORT n`` from its first line."""
    cmd = [*pinned(LOAD_CORE, pin), sys.executable, "-m", "bench.fake_upstream", "--port", "0"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline().decode() if ready else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise TargetError(f"fake upstream did not start (said {line!r})")
    return Server("fake", int(line.split()[1]), proc)


def _tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


async def wait_ready(server: Server, path: str, timeout: float = 30.0) -> None:
    """Poll ``path`` until it answers (any status), or fail with the server's log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            tail = _tail(server.log) if server.log else ""
            raise TargetError(f"{server.name} exited with {server.proc.returncode}:\n{tail}")
        with contextlib.suppress(OSError):
            status, _ = await post_json(HOST, server.port, path, b"")
            if status:
                return
        await asyncio.sleep(0.1)
    server.stop()
    raise TargetError(f"{server.name} did not answer {path} within {timeout:.0f} s")


def launch(name: str, cmd: list[str], workdir: Path, env: dict[str, str] | None = None) -> Server:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
    return Server(name, 0, proc, log=log)


# --- nginx: the pass-through limit -----------------------------------------------------------

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    upstream fake {{ server 127.0.0.1:{fake}; keepalive 256; keepalive_requests 1000000; }}
    server {{
        listen 127.0.0.1:{port}{listen_options};
        {server_options}
        location / {{
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"""


def ensure_nginx(install: bool) -> tuple[str | None, str]:
    """The nginx binary (installing Debian's package when allowed) and a note; None and the reason."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found:
        return found, ""
    if not install:
        return None, "nginx is not installed (installing was turned off)"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "nginx is not installed and apt-get as root is not available"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", "nginx"]
    for attempt in ([], [["apt-get", "update"]]):
        for step in attempt:
            subprocess.run(step, env=env, capture_output=True, timeout=600, check=False)
        done = subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        if done.returncode == 0 and os.access("/usr/sbin/nginx", os.X_OK):
            return "/usr/sbin/nginx", "nginx was installed from Debian's package by this run"
    return None, "nginx could not be installed with apt-get"


async def start_nginx(binary: str, fake_port: int, workdir: Path, pin: bool) -> Server:
    conf_dir = workdir / "nginx"
    conf_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    conf = conf_dir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=conf_dir, fake=fake_port, port=port, user=user, listen_options="",
                                     server_options=""))
    cmd = [*pinned(SERVER_CORE, pin), binary, "-p", str(conf_dir), "-c", str(conf),
           "-e", str(conf_dir / "error.log")]
    server = launch("nginx", cmd, workdir)
    server.port = port
    await wait_ready(server, "/_bench/stats")
    await asyncio.sleep(0.2)  # the worker forks after the master answers; meter both
    server.meter = TreeMeter(server.proc.pid if server.proc else 0)
    version = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    server.version = version.stderr.strip().removeprefix("nginx version: ")
    return server


# --- redis: the shared state of several instances ------------------------------------------------


async def start_redis(workdir: Path, pin: bool) -> Server:
    """A ``redis-server`` on a free loopback port in a directory of its own, saving nothing to disk,
    on the load generator's core (the server core is cliproxy's alone)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise TargetError("redis-server is not installed (apt-get install redis-server)")
    data = workdir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [*pinned(LOAD_CORE, pin), binary, "--port", str(port), "--bind", HOST, "--save", "",
           "--appendonly", "no", "--dir", str(data)]
    server = launch("redis", cmd, workdir)
    server.port = port
    deadline = time.monotonic() + 15
    while not await _redis_answers(port):
        if (server.proc is not None and server.proc.poll() is not None) or time.monotonic() > deadline:
            server.stop()
            raise TargetError(f"redis-server did not start:\n{_tail(data.parent / 'redis.log')}")
        await asyncio.sleep(0.05)
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    server.version = next((w.removeprefix("v=") for w in done.stdout.split() if w.startswith("v=")), "")
    server.extra["url"] = f"redis://{HOST}:{port}/0"
    return server


async def _redis_answers(port: int) -> bool:
    """A PING in Redis's inline protocol answered ``+PONG``."""
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return False
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 2)).startswith(b"+PONG")
    except OSError:  # TimeoutError included
        return False
    finally:
        writer.close()


# --- cliproxy: the server under test -----------------------------------------------------------


PRODUCT_VENV = REPO / "bench" / ".product-venv"


def cliproxy_binary() -> str | None:
    local = REPO / ".venv" / "bin" / "cliproxy"
    if local.exists():
        return str(local)
    return shutil.which("cliproxy")


@functools.cache
def product_binary() -> str:
    """``cliproxy`` installed from this checkout the way a user installs it, in a venv of its own
    (bench/.product-venv): the runtime dependencies only, so no test extra (cryptography, the
    SDKs) is there to be imported. The checkout is reinstalled once per run (which may start
    cliproxy more than once, on each state backend)."""
    python = PRODUCT_VENV / "bin" / "python"
    steps = [] if python.exists() else [[sys.executable, "-m", "venv", str(PRODUCT_VENV)]]
    steps.append([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(REPO)])
    steps.append([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  "--force-reinstall", "--no-deps", str(REPO)])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise TargetError(f"installing cliproxy for the benchmark failed: {done.stderr.strip()[-500:]}")
    return str(PRODUCT_VENV / "bin" / "cliproxy")


async def start_cliproxy(fake_port: int, workdir: Path, pin: bool, product: bool = False, *,
                         upstream: str = "", config_extra: str = "", env_extra: dict[str, str] | None = None,
                         name: str = "cliproxy") -> Server:
    """``cliproxy serve`` against the fake, with one account file and a config for benchmarking.
    ``upstream``: another base URL in front of the fake (``bench.tls``: nginx with TLS)."""
    binary = product_binary() if product else cliproxy_binary()
    if binary is None:
        raise TargetError("the cliproxy command is not installed (run `make install`)")
    auth_dir = workdir / "auth"
    auth_dir.mkdir(parents=True, exist_ok=True)
    (auth_dir / "codex-bench@example.com.json").write_bytes(orjson.dumps(ACCOUNT))
    config = workdir / "config.yaml"
    config.write_text(CLIPROXY_CONFIG + config_extra)
    port = free_port()
    env = {
        **os.environ,
        "CLIPROXY_CODEX_BASE_URL": (upstream or f"http://{HOST}:{fake_port}") + "/backend-api/codex",
        "CLIPROXY_AUTH_DIR": str(auth_dir),
        "CLIPROXY_CONFIG": str(config),
        **(env_extra or {}),
    }
    cmd = [*pinned(SERVER_CORE, pin), binary, "serve", "--port", str(port)]
    server = launch(name, cmd, workdir, env)
    server.port = port
    await wait_ready(server, "/healthz")
    server.meter = TreeMeter(server.proc.pid if server.proc else 0)
    server.version = _git_describe()
    return server


def _git_describe() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip()
