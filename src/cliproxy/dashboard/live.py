"""The live view: requests in flight and the last ones finished, as plain data for the page.

Read from the server's observer, which keeps them anyway (a trace per request in flight, the usage
record of each finished one): building the view walks those at the page's pace, never at the
requests'. Account names are account file names, which the page masks before it shows them.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the types only: the observer module loads the runner, and with it the dialects
    from cliproxy.server.observe import Observer, Trace

ERRORS_SHOWN = 20


def _in_flight(trace: Trace, now: float) -> dict[str, Any]:
    credential = trace.result.credential
    return {"request_id": trace.request_id, "started": trace.started, "elapsed_ms": round((now - trace.started) * 1000),
            "dialect": trace.call.dialect.name, "model": trace.call.model_id, "endpoint": trace.request.url.path,
            "account": credential.name if credential is not None else "", "streaming": trace.streaming}


def live_view(observer: Observer, limit: int) -> dict[str, Any]:
    """``limit`` finished requests, newest first, and the newest failures among all kept."""
    now = time.time()
    in_flight = sorted((_in_flight(t, now) for t in list(observer.in_flight.values())), key=lambda r: r["started"])
    finished = [asdict(record) for record in reversed(observer.recent)]
    errors = [row for row in finished if row["error"] or row["status"] >= 400][:ERRORS_SHOWN]
    return {"now": now, "in_flight": in_flight, "finished": finished[:limit], "errors": errors,
            "request_logs": observer.request_log is not None}


__all__ = ["live_view"]
