"""Waiting for another instance to hear of a change, without a timed assertion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def until(check: Callable[[], Any], deadline: float = 10.0) -> Any:
    """``check()``'s first truthy value, polled every 10 ms; fails after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not (value := check()):
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.01)
    return value
