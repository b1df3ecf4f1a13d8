"""The lenient readers: any shape in, the asked-for type or a neutral value out, never an exception."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cliproxy.config.coerce import as_bool, as_count, as_float, as_str, parse_duration

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                           lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=5)


@pytest.mark.parametrize(("value", "seconds"), [
    (3600, 3600.0), (1.5, 1.5), (0, 0.0), ("120", 120.0), ("2.5", 2.5), ("0", 0.0),
    ("90s", 90.0), ("30m", 1800.0), ("1h", 3600.0), ("1h30m", 5400.0), ("250ms", 0.25), ("2d", 172800.0),
    (" 5M ", 300.0), ("1h 30m", None), ("soon", None), ("", None), ("30x", None), ("m", None),
    (-5, None), (math.inf, None), (math.nan, None), (True, None), (None, None), ([1], None),
])
def test_a_duration_is_read_from_seconds_or_go_style_units(value: Any, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=59),
       st.integers(min_value=0, max_value=59))
def test_hours_minutes_and_seconds_add_up(hours: int, minutes: int, seconds: int) -> None:
    assert parse_duration(f"{hours}h{minutes}m{seconds}s") == hours * 3600 + minutes * 60 + seconds


@given(JSON_VALUES)
def test_no_reader_raises_on_any_json_value(value: Any) -> None:
    parse_duration(value)
    as_float(value)
    as_bool(value)
    assert isinstance(as_str(value), str) and isinstance(as_count(value), int)


def test_a_bool_is_never_a_number() -> None:
    assert as_float(True) is None and as_count(True, 7) == 7 and parse_duration(False) is None


def test_numbers_come_from_numbers_and_numeric_strings_only_when_finite() -> None:
    assert as_float("12.5") == 12.5 and as_float(3) == 3.0
    assert as_float("inf") is None and as_float("nan") is None and as_float("") is None and as_float(None) is None


def test_flags_read_the_words_headers_and_json_use() -> None:
    assert [as_bool(v) for v in (True, "True", " false ", "1", 0, "yes", None)] == [True, True, False, True,
                                                                                  False, None, None]


def test_text_and_counts_keep_only_their_own_type() -> None:
    assert as_str("a") == "a" and as_str(5) == "" and as_str(None) == ""
    assert as_count(5) == 5 and as_count("5") == 0 and as_count(2.0, 3) == 3
