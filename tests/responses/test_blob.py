"""The Codex reasoning blob shape check."""

from __future__ import annotations

import base64

import pytest

from cliproxy.responses.blob import looks_like_codex_blob
from tests.dialects.anthropic_helpers import make_blob


def fernet(payload: bytes, version: int = 0x80) -> str:
    return base64.urlsafe_b64encode(bytes([version]) + b"\x00" * 8 + payload).decode()


@pytest.mark.parametrize("blocks", [1, 2, 7])
def test_codex_blobs_are_recognised(blocks: int) -> None:
    assert looks_like_codex_blob(make_blob(blocks))
    assert looks_like_codex_blob(make_blob(blocks).rstrip("="))


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        "",
        "gAAAA",
        " " + make_blob(),
        make_blob() + "\n",
        "EqQBCkYIBRgCKkD" + "A" * 100,  # a Claude signature
        make_blob().replace("g", "+", 1),
        make_blob()[:-8] + "!!!!!!!!",
        fernet(b"\x00" * (16 + 32)),  # no ciphertext at all
        fernet(b"\x00" * (16 + 16 + 32), version=0x81),  # not a Fernet version byte
        fernet(b"\x00" * (16 + 17 + 32)),  # ciphertext not a multiple of 16
        "gAAAAB" + "A" * 3,  # undecodable length
    ],
)
def test_anything_else_is_not(value: object) -> None:
    assert not looks_like_codex_blob(value)


def test_the_minimum_envelope_is_73_bytes() -> None:
    minimum = fernet(b"\x00" * (16 + 16 + 32))  # IV, one cipher block, HMAC
    assert len(base64.urlsafe_b64decode(minimum)) == 73
    assert looks_like_codex_blob(minimum)
