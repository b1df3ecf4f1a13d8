"""Recognise a Codex reasoning blob (``encrypted_content``) by its shape.

The backend rejects a whole request when a reasoning item carries something that is not one of
its own encrypted blobs ("invalid_encrypted_content"), and clients happily send back foreign
signatures (Claude's own thinking signatures, other proxies' tokens, truncated strings). We
cannot decrypt the blob, but its envelope is a Fernet token: ``0x80`` version byte, 8-byte
timestamp, 16-byte IV, AES-CBC ciphertext (a positive multiple of 16 bytes) and a 32-byte HMAC,
base64url-encoded (so it starts with ``gAAAA``). Checking that envelope weeds out everything
that cannot possibly be accepted.
"""

from __future__ import annotations

import base64
import binascii
import re

_PREFIX = "gAAAA"
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_VERSION = 0x80
_HEADER = 1 + 8 + 16  # version, timestamp, IV
_HMAC = 32
_MIN_DECODED = _HEADER + 16 + _HMAC  # 73: at least one cipher block


def looks_like_codex_blob(value: object) -> bool:
    """True when ``value`` has the shape of a Codex ``encrypted_content`` blob."""
    if not isinstance(value, str) or not value.startswith(_PREFIX) or value != value.strip():
        return False
    if _ALPHABET.fullmatch(value) is None:
        return False
    unpadded = value.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        return False
    if len(raw) < _MIN_DECODED or raw[0] != _VERSION:
        return False
    ciphertext = len(raw) - _HEADER - _HMAC
    return ciphertext > 0 and ciphertext % 16 == 0
