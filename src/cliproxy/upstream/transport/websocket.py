"""The Codex backend's WebSocket, opened the way every other request to it leaves.

The ``websockets`` client library does the protocol; this module gives it what the HTTP client is
given: the account's proxy (``upstream/egress.py`` reads ``proxy-url`` the same way for both), the
configured TLS trust, headers that passed the one header check (``transport/headers.py``), a
handshake timeout and a message-size bound. The library is loaded on the first upstream socket,
so a server no client opens a socket to never loads it.

What can go wrong, and whose fault it is:

- the handshake is answered with an HTTP status: classified like the same status over HTTP (a 401
  or a spent quota is the account's); ``426 Upgrade Required`` means "use HTTP", not a failure;
- the connection is refused, reset, times out or is cut: the upstream's transient failure;
- the way out cannot carry a socket (a SOCKS proxy without the ``python-socks`` package): not a
  failure either; the account is served over HTTP.
"""

from __future__ import annotations

import importlib.util
import ssl
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from cliproxy.config.schema import DIRECT
from cliproxy.config.schema import Upstream as UpstreamSettings
from cliproxy.errors import Outcome, ProxyError
from cliproxy.upstream.classify import classify_http_error
from cliproxy.upstream.egress import ssl_context
from cliproxy.upstream.transport.headers import HeaderRefused, encoded_fields

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection
    from websockets.exceptions import ConnectionClosed

# The value Codex CLI sends; the backend serves its Responses socket only to a client that names it.
BETA = "responses_websockets=2026-02-06"


class SocketUnavailable(Exception):
    """This account cannot be reached over a WebSocket right now: serve it over HTTP instead."""


def socket_url(base_url: str) -> str:
    """``{base}/responses`` with ``https`` → ``wss`` (``http`` → ``ws``)."""
    url = base_url + "/responses"
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    return url


def library_proxy(proxy: str) -> str | bool | None:
    """``proxy`` as ``chosen_proxy`` returns it, in the library's terms: ``True`` = the environment's,
    ``None`` = none. SocketUnavailable for a SOCKS proxy the library cannot use."""
    if proxy in DIRECT:
        return None
    if not proxy:
        return True
    if proxy.lower().startswith("socks") and importlib.util.find_spec("python_socks") is None:
        raise SocketUnavailable("a SOCKS proxy needs the python-socks package")  # the library's own need
    return proxy


async def open_socket(url: str, headers: Mapping[str, str], proxy: str, settings: UpstreamSettings,
                      max_message_bytes: int) -> tuple[ClientConnection, dict[str, str]]:
    """An open socket and its handshake answer's headers; ProxyError or SocketUnavailable if none."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidProxy, InvalidStatus, WebSocketException

    fields = dict(headers)
    user_agent = fields.pop("user-agent", None)
    try:
        encoded_fields(fields)
    except HeaderRefused as refused:  # our fault: the same words as on the HTTP way out
        raise ProxyError(500, f"the proxy could not send this request to the Codex backend: {refused}",
                         code="internal_server_error", outcome=Outcome.INTERNAL) from None
    options: dict[str, Any] = {"proxy": library_proxy(proxy), "additional_headers": fields,
                               "user_agent_header": user_agent, "open_timeout": settings.connect_timeout_seconds,
                               "max_size": max_message_bytes, "close_timeout": 2}
    if url.startswith("wss://"):
        options["ssl"] = ssl_context(settings, environment=False)
    try:
        connection = await connect(url, **options)
    except InvalidStatus as exc:
        raise _refused(exc.response.status_code, bytes(exc.response.body or b""), exc.response.headers) from None
    except (InvalidProxy, ImportError) as exc:
        raise SocketUnavailable(type(exc).__name__) from None
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise unreachable(exc) from None
    answer = connection.response
    return connection, {} if answer is None else {k.lower(): v for k, v in answer.headers.raw_items()}


def _refused(status: int, body: bytes, headers: Any) -> Exception:
    if status == 426:
        return SocketUnavailable("the backend answered 426 Upgrade Required")
    return classify_http_error(status, body, {k.lower(): v for k, v in headers.raw_items()}, time.time())


def unreachable(exc: BaseException) -> ProxyError:
    """A socket that could not be opened: the upstream's transient failure (a certificate the
    trust refuses says how to fix it)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ProxyError(502, "connection to the Codex backend's WebSocket failed: its TLS certificate was not "
                          f"trusted ({exc.verify_message}); see `upstream.ca-file` and `upstream.system-trust`",
                          code="upstream_unreachable", outcome=Outcome.DISCONNECTED)
    kind = "timed out" if isinstance(exc, TimeoutError | httpx.TimeoutException) else "failed"
    return ProxyError(502, f"connection to the Codex backend's WebSocket {kind} ({type(exc).__name__})",
                      code="upstream_unreachable", outcome=Outcome.DISCONNECTED)


def dropped(closed: ConnectionClosed, max_message_bytes: int) -> ProxyError:
    """The socket closed in the middle of an answer: the upstream's transient failure, never the account's."""
    if closed.sent is not None and closed.sent.code == 1009:  # the library refused a message over the limit
        reason = (f"the Codex backend sent a WebSocket message over `limits.websocket-message-bytes` "
                  f"({max_message_bytes} bytes)")
    else:
        code = closed.rcvd.code if closed.rcvd is not None else 1006
        reason = f"the Codex backend's WebSocket closed (code {code})"
    return ProxyError(502, f"stream disconnected before completion: {reason}", code="stream_disconnected",
                      type="server_error", outcome=Outcome.DISCONNECTED)


__all__ = ["BETA", "SocketUnavailable", "dropped", "library_proxy", "open_socket", "socket_url", "unreachable"]
