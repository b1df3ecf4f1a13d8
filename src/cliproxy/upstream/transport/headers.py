"""The one check every header passes before it leaves for the upstream, on every way out.

HTTP/1.1 frames a header by its line break, so a CR or LF in a value starts a new header or a
whole second request on the connection that carries an account's bearer (request smuggling); a NUL
is cut or refused differently by each hop. h11 and h2 refuse both; our transport writes headers
itself, so it refuses them here, for the proxy's own POST, for requests from httpx's client (the
compaction, the usage reads, model discovery, the relayed ChatGPT backend requests) and for both
protocols. A name must be a token (RFC 9110 §5.6.2) and a value Latin-1 text.

A refusal is ``HeaderRefused``: a request the proxy itself built wrong, never the upstream's fault
nor the account's (upstream/codex.py reports it as ``Outcome.INTERNAL``). Its message never quotes
the value, which may be a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import httpx

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHECKED_NAMES: set[bytes | str] = set()  # names already found to be tokens: the proxy sends the same few


class HeaderRefused(httpx.LocalProtocolError):
    """A header the proxy will not send: a name that is not a token, or a value with CR, LF or
    NUL, or one that is not Latin-1."""


def check_name(name: bytes | str) -> None:
    if name in _CHECKED_NAMES:
        return
    raw = name.encode("latin-1", "replace") if isinstance(name, str) else name
    if _TOKEN.fullmatch(raw) is None:
        raise HeaderRefused("a header name is not an HTTP token")
    if len(_CHECKED_NAMES) >= 1024:
        _CHECKED_NAMES.clear()
    _CHECKED_NAMES.add(name)


def check_value(name: bytes, value: bytes) -> None:
    if b"\r" in value or b"\n" in value or b"\0" in value:
        raise HeaderRefused(f"the value of header {name.decode('latin-1')!r} contains a CR, LF or NUL")


def check_fields(fields: Iterable[tuple[bytes, bytes]]) -> None:
    """Every ``(name, value)`` pair, as bytes (httpx's ``Headers.raw``)."""
    for name, value in fields:
        check_name(name)
        check_value(name, value)


def encoded_fields(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Text headers as checked Latin-1 byte pairs."""
    try:
        fields = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    except UnicodeEncodeError:
        raise HeaderRefused("a header name or value is not Latin-1 text") from None
    check_fields(fields)
    return fields


def header_block(headers: Mapping[str, str]) -> bytes:
    """``name: value\\r\\n`` lines, checked: one join and three counts, the proxy's per-request path."""
    block = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    count = len(headers)
    if block.count("\n") != count or block.count("\r") != count or "\0" in block:
        raise HeaderRefused("a header value contains a CR, LF or NUL")
    for name in headers:
        check_name(name)
    try:
        return block.encode("latin-1")
    except UnicodeEncodeError:
        raise HeaderRefused("a header name or value is not Latin-1 text") from None


__all__ = ["HeaderRefused", "check_fields", "check_name", "check_value", "encoded_fields", "header_block"]
