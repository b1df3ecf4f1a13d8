"""Claims are read from the tokens without PyJWT (and so without loading ``cryptography``)."""

from __future__ import annotations

import base64
import subprocess
import sys
from typing import Any

import jwt
import orjson
from hypothesis import given
from hypothesis import strategies as st

from cliproxy.auth.claims import AUTH_CLAIM, decode_jwt, read_claims
from tests.helpers import access_token, id_token, make_jwt

_JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                     max_leaves=10)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@given(st.dictionaries(st.text(), _JSON, max_size=5))
def test_the_payload_reads_as_pyjwt_reads_it(payload: dict[str, Any]) -> None:
    token = make_jwt(payload)
    assert decode_jwt(token) == jwt.decode(token, options={"verify_signature": False})


def test_an_account_reads_its_email_account_plan_and_expiry() -> None:
    claims = read_claims(id_token("a@example.com", "acc-1", "Pro"), access_token("t", "acc-1", lifetime=60))
    assert (claims.email, claims.account_id, claims.plan) == ("a@example.com", "acc-1", "pro")
    assert claims.expires_at is not None


def test_what_is_not_a_jwt_reads_as_no_claims() -> None:
    header = _b64(b'{"alg":"none"}')
    for token in ["", "opaque-token", "a.b", "a..c", f"{header}.{_b64(b'[1]')}.sig",
                  f"{_b64(b'[1]')}.{_b64(b'{}')}.sig", f"{header}.not*base64!.sig",
                  f"{header}.{_b64(b'{not json')}.sig", f"{header}.{_b64(orjson.dumps({'a': 1}))}.sig.x",
                  f"{header}.{_b64(bytes([0xff, 0xfe]))}.sig", "é.é.é"]:
        assert decode_jwt(token) == {}, token


def test_a_payload_without_base64_padding_is_read() -> None:
    payload = {AUTH_CLAIM: {"chatgpt_account_id": "acc"}, "x": "ab"}
    token = f"{_b64(b'{}')}.{_b64(orjson.dumps(payload))}.sig"
    assert decode_jwt(token) == payload


def test_reading_claims_does_not_load_cryptography() -> None:
    code = ("import sys; from cliproxy.auth.claims import read_claims; read_claims(sys.argv[1]); "
            "print('cryptography' in sys.modules or 'jwt' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, make_jwt({"email": "a@b.c"})],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
