"""Prompt-cache ids stay what they were: a conversation keeps its warm cache across an upgrade."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from cliproxy.dialects.cache_id import uuid5_text


@settings(max_examples=300)
@given(st.text())
def test_the_id_is_the_text_of_uuid5_for_any_name(name: str) -> None:
    assert uuid5_text(name) == str(uuid.uuid5(uuid.NAMESPACE_OID, name))

