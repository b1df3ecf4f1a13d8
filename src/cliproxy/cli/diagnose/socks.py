"""A SOCKS5 proxy checked as the server will use it: the greeting, the login when the proxy URL
carries one, and a CONNECT to the upstream's host and port.

A TCP connect alone passes for any program on that port (an HTTP proxy, a closed tunnel's
listener); the handshake proves a SOCKS5 proxy answers, accepts our credentials and can reach the
upstream. Nothing of HTTP is sent. socksio (httpx's SOCKS support) packs and parses the messages.
"""

from __future__ import annotations

import socket
from urllib.parse import unquote, urlsplit

from socksio import ProtocolError
from socksio.socks5 import (
    SOCKS5AuthMethod,
    SOCKS5AuthMethodsRequest,
    SOCKS5AuthReply,
    SOCKS5Command,
    SOCKS5CommandRequest,
    SOCKS5Connection,
    SOCKS5Reply,
    SOCKS5ReplyCode,
    SOCKS5UsernamePasswordReply,
    SOCKS5UsernamePasswordRequest,
)

REPLY_BYTES = 262  # the longest reply: a 255-byte name, its length, the head and the port


def _exchange(sock: socket.socket, connection: SOCKS5Connection) -> object:
    sock.sendall(connection.data_to_send())
    data = sock.recv(REPLY_BYTES)
    if not data:
        raise ProtocolError("closed the connection")
    return connection.receive_data(data)


def _login(sock: socket.socket, connection: SOCKS5Connection, proxy_url: str) -> str:
    """``""`` when the proxy accepts us, else why not."""
    parts = urlsplit(proxy_url)
    methods = [SOCKS5AuthMethod.NO_AUTH_REQUIRED]
    if parts.username:
        methods.append(SOCKS5AuthMethod.USERNAME_PASSWORD)
    connection.send(SOCKS5AuthMethodsRequest(methods))
    chosen = _exchange(sock, connection)
    if not isinstance(chosen, SOCKS5AuthReply) or chosen.method == SOCKS5AuthMethod.NO_ACCEPTABLE_METHODS:
        return "the SOCKS5 proxy accepts none of our ways to log in (does it want a user name and password?)"
    if chosen.method != SOCKS5AuthMethod.USERNAME_PASSWORD:
        return ""
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    connection.send(SOCKS5UsernamePasswordRequest(user.encode(), password.encode()))
    verdict = _exchange(sock, connection)
    if not isinstance(verdict, SOCKS5UsernamePasswordReply) or not verdict.success:
        return "the SOCKS5 proxy refused the user name and password of the proxy URL"
    return ""


def socks_handshake(sock: socket.socket, proxy_url: str, host: str, port: int) -> str:
    """Open a tunnel to ``host:port`` through the proxy on ``sock``: ``""`` when it is open (the
    socket then leads to the upstream), else what went wrong."""
    connection = SOCKS5Connection()
    try:
        refused = _login(sock, connection, proxy_url)
        if refused:
            return refused
        connection.send(SOCKS5CommandRequest.from_address(SOCKS5Command.CONNECT, (host, port)))
        reply = _exchange(sock, connection)
    except (ProtocolError, ValueError, IndexError):
        return "it answers, but not as a SOCKS5 proxy (is it an HTTP proxy? then write http://)"
    except OSError as exc:
        return f"the SOCKS5 handshake failed ({exc.strerror or exc})"
    if not isinstance(reply, SOCKS5Reply) or reply.reply_code != SOCKS5ReplyCode.SUCCEEDED:
        code = reply.reply_code.name.lower().replace("_", " ") if isinstance(reply, SOCKS5Reply) else "no reply"
        return f"the SOCKS5 proxy could not open a tunnel to {host}:{port} ({code})"
    return ""


__all__ = ["socks_handshake"]
