"""Management endpoints for logs: recent application log lines, and request/error log files.

Application lines are kept in a bounded in-memory buffer fed by a logging handler that runs the same
redactor as the console, so nothing read here can hold a secret the console would not show.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from cliproxy.observe.logs import REDACTOR
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.common import BadBody, ManagementContext, endpoint, ok

MAX_LINES = 5000
DEFAULT_LIMIT = 500


class LogBuffer(logging.Handler):
    """The newest application log lines with their time, redacted."""

    def __init__(self, capacity: int = MAX_LINES) -> None:
        super().__init__()
        self.addFilter(REDACTOR)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                            "%Y-%m-%d %H:%M:%S"))
        self._lines: deque[tuple[float, str]] = deque(maxlen=capacity)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            return
        with self._guard:
            self._lines.append((record.created, line))

    def since(self, after: float, limit: int) -> list[tuple[float, str]]:
        with self._guard:
            lines = [item for item in self._lines if item[0] > after]
        return lines[-limit:] if limit > 0 else lines

    def clear(self) -> None:
        with self._guard:
            self._lines.clear()


def _number(raw: str | None, default: float) -> float:
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise BadBody("query values must be numbers") from None


def routes(ctx: ManagementContext, buffer: LogBuffer) -> list[Route]:
    async def logs(request: Request) -> Response:
        if request.method == "DELETE":
            buffer.clear()
            return ok(message="logs cleared")
        after = _number(request.query_params.get("after"), 0.0)
        limit = int(_number(request.query_params.get("limit"), DEFAULT_LIMIT))
        lines = buffer.since(after, limit)
        latest = lines[-1][0] if lines else after
        return JSONResponse({"lines": [line for _, line in lines], "line-count": len(lines),
                             "latest-timestamp": latest})

    async def error_logs(request: Request) -> Response:
        files = ctx.request_log.error_logs() if ctx.request_log is not None else []
        return JSONResponse({"files": files})

    async def error_log(request: Request) -> Response:
        name = request.path_params["name"]
        path = ctx.request_log.find(name) if ctx.request_log is not None and name.startswith("error-") else None
        if path is None:
            raise BadBody("log file not found", 404)
        return FileResponse(path, media_type="text/plain; charset=utf-8", filename=name)

    async def log_by_id(request: Request) -> Response:
        found = ctx.request_log.find_by_id(request.path_params["id"]) if ctx.request_log is not None else None
        if found is None:
            raise BadBody("no log for this request id", 404)
        return FileResponse(found, media_type="text/plain; charset=utf-8", filename=found.name)

    return [
        Route("/logs", endpoint(logs), methods=["GET", "DELETE"]),
        Route("/request-error-logs", endpoint(error_logs), methods=["GET"]),
        Route("/request-error-logs/{name}", endpoint(error_log), methods=["GET"]),
        Route("/request-log-by-id/{id}", endpoint(log_by_id), methods=["GET"]),
    ]


__all__ = ["LogBuffer", "routes"]
