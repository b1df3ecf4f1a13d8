"""Run an ASGI app with uvicorn in a background thread on a real loopback socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.fakes.codex_backend import FakeCodex


@contextmanager
def serve_in_thread(app: Any, **config: Any) -> Iterator[str]:
    """Yield ``http://127.0.0.1:<port>`` while ``app`` serves; stop it afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=1, **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_fake() -> Iterator[FakeCodex]:
    """A ``FakeCodex`` served on a loopback port; its base URL is ``backend.url``."""
    backend = FakeCodex()
    with serve_in_thread(backend.app) as url:
        backend.url = url  # type: ignore[attr-defined]
        yield backend
