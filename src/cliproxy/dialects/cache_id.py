"""Prompt-cache ids: the text of ``uuid.uuid5(NAMESPACE_OID, name)``, without building a UUID.

Every request that names its conversation indirectly (a Claude session, a Chat client's key, the
opening of a conversation) gets one, so it is on the request path: the standard library's UUID object
costs more than the hash itself (its constructor checks and converts), and all we need is its text.
The result is the same string, byte for byte, so ids stay the same across versions and restarts.
"""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.NAMESPACE_OID.bytes


def uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(uuid.NAMESPACE_OID, name))``."""
    digest = bytearray(hashlib.sha1(_NAMESPACE + name.encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


__all__ = ["uuid5_text"]
