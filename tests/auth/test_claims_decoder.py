"""The proxy reads unverified JWT claims itself; it must read them exactly as PyJWT does."""

from __future__ import annotations

from typing import Any

import jwt
from hypothesis import given, settings
from hypothesis import strategies as st

from cliproxy.auth.claims import decode_jwt

KEY = "a signing key no one verifies, 32+ bytes"
_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                              max_size=3), max_leaves=8)
_CLAIMS = st.dictionaries(st.text(max_size=12).filter(lambda name: name not in ("exp", "nbf", "iat", "sub", "jti",
                                                                                    "iss", "aud")),
                          _JSON, max_size=5)


def pyjwt_reads(token: str) -> dict[str, Any]:
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return payload if isinstance(payload, dict) else {}


@settings(max_examples=200)
@given(_CLAIMS)
def test_a_signed_token_reads_as_pyjwt_reads_it(claims: dict[str, Any]) -> None:
    token = jwt.encode(claims, KEY, algorithm="HS256")
    assert decode_jwt(token) == pyjwt_reads(token) == claims


_SEGMENT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/é.", max_size=24)


@settings(max_examples=300)
@given(st.lists(_SEGMENT, min_size=1, max_size=4).map(".".join) | st.text(max_size=40))
def test_anything_else_reads_as_pyjwt_reads_it(token: str) -> None:
    assert decode_jwt(token) == pyjwt_reads(token)


def test_real_shapes_missing_padding_and_a_non_object_body() -> None:
    body = jwt.encode({"email": "a@example.com"}, KEY, algorithm="HS256").split(".")
    assert decode_jwt(".".join(body)) == {"email": "a@example.com"}
    assert decode_jwt(f"{body[0]}.WzFd.{body[2]}") == {}  # the body is [1]: no claims
    assert decode_jwt(f"{body[0]}..{body[2]}") == {} and decode_jwt("") == {}
