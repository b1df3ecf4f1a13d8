"""PKCE verifier and challenge (RFC 7636, S256) and the OAuth ``state``, with CPA's sizes.

A 128-character verifier and a 32-hex-character state: both pass every validator we know of,
including the management API's state check (at most 128 characters of ``[A-Za-z0-9._-]``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field

_VERIFIER_BYTES = 96  # base64url without padding: 128 characters
_STATE_BYTES = 16  # lowercase hex: 32 characters


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def challenge_for(verifier: str) -> str:
    """base64url(SHA-256(verifier)) without padding: 43 characters."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def generate_state() -> str:
    return secrets.token_hex(_STATE_BYTES)


@dataclass(frozen=True)
class PkcePair:
    """The verifier stays with us; only the challenge goes into the authorize URL."""

    verifier: str = field(repr=False)
    challenge: str

    @classmethod
    def generate(cls) -> PkcePair:
        verifier = _b64url(secrets.token_bytes(_VERIFIER_BYTES))
        return cls(verifier=verifier, challenge=challenge_for(verifier))
