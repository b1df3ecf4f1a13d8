"""Can this machine reach the upstream, and can the server have its port — without spending quota.

The upstream check resolves the host, opens a TCP connection and, for https, completes a TLS
handshake with the trust the server would use; it sends no request. Behind an HTTP proxy it checks
that the proxy answers; behind a SOCKS5 proxy it opens a tunnel to the upstream through it and does
the TLS handshake there.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from cliproxy.cli.diagnose.findings import Finding
from cliproxy.cli.diagnose.socks import socks_handshake
from cliproxy.config.exposure import is_loopback
from cliproxy.config.schema import Config

DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


def proxy_for(config: Config, environ: Mapping[str, str]) -> str:
    """The proxy upstream requests go through: the config's ``proxy-url``, else the environment's."""
    if config.proxy_url:
        return config.proxy_url
    names = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    return next((environ[name] for name in names if environ.get(name)), "")


def _endpoint(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, 443)


def _connect(host: str, port: int, timeout: float) -> socket.socket | str:
    """A connected socket, or what went wrong in words a person can search for."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {host} ({exc.strerror}): check DNS or your network"
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc.strerror or exc}): a firewall, or no network?"


def _handshake(sock: socket.socket, host: str, context: ssl.SSLContext) -> str:
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            return f"TLS {tls.version()}"
    except (ssl.SSLError, OSError) as exc:
        return f"!TLS handshake with {host} failed ({exc}): a TLS-inspecting proxy? set upstream.ca-file"


def check_upstream(base_url: str, proxy: str, timeout: float, context: ssl.SSLContext | None = None) -> Finding:
    """Reach the upstream (or the proxy in front of it) as far as a handshake, never further. A
    SOCKS5 proxy is asked for a tunnel, and the TLS handshake goes through it."""
    scheme, host, port = _endpoint(proxy or base_url)
    connected = _connect(host, port, timeout)
    via = f" through the proxy {scheme}://{host}:{port}" if proxy else ""
    if isinstance(connected, str):
        return Finding("upstream", "fail", connected + via, "fix the network, or set proxy-url in the config")
    with connected:
        if proxy and scheme.startswith("socks5"):
            return _through_socks(connected, proxy, base_url, context)
        if proxy or scheme != "https":
            return Finding("upstream", "ok", f"{host}:{port} accepts connections{via} (no request sent)")
        return _tls_finding(connected, host, port, context, "")


def _tls_finding(sock: socket.socket, host: str, port: int, context: ssl.SSLContext | None, via: str) -> Finding:
    done = _handshake(sock, host, context or ssl.create_default_context())
    if done.startswith("!"):
        return Finding("upstream", "fail", done[1:] + via, "")
    return Finding("upstream", "ok", f"{host}:{port} reachable{via}, {done} (no request sent)")


def _through_socks(sock: socket.socket, proxy: str, base_url: str, context: ssl.SSLContext | None) -> Finding:
    scheme, host, port = _endpoint(base_url)
    parts = urlsplit(proxy)
    via = f" through the SOCKS5 proxy {parts.hostname}:{parts.port or DEFAULT_PORTS['socks5']}"
    refused = socks_handshake(sock, proxy, host, port)
    if refused:
        return Finding("upstream", "fail", refused + via, "check proxy-url (or ALL_PROXY) and the proxy itself")
    if scheme != "https":
        return Finding("upstream", "ok", f"{host}:{port} reachable{via} (no request sent)")
    return _tls_finding(sock, host, port, context, via)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host.strip("[]"), port))
        except OSError:
            return False
    return True


def check_bind(config: Config, server_up: bool) -> Finding:
    """The configured bind: one ``serve`` accepts, and a port no other program holds."""
    where = f"{config.host}:{config.port}"
    if not is_loopback(config.host) and not config.api_keys:
        return Finding("bind", "fail", f"{where} is open to the network with no api-keys; serve refuses it",
                       "set api-keys in the config, or host: 127.0.0.1")
    if not server_up and not port_free("127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host, config.port):
        return Finding("bind", "fail", f"port {config.port} is taken by another program",
                       "stop that program, or choose another port (config `port`, or --port)")
    if not is_loopback(config.host):
        return Finding("bind", "warn", f"{where} is reachable from the network (api-keys required)")
    return Finding("bind", "ok", f"{where} (this machine only)")


__all__ = ["check_bind", "check_upstream", "port_free", "proxy_for"]
