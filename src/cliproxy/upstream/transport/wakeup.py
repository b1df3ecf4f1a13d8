"""One reader waiting for a producer, with a timeout: a future and a timer handle.

Used once per network read on the streaming path (the upstream connections, the runner's channel
to the client side), where ``asyncio.timeout``'s bookkeeping (a Timeout object, rescheduling,
uncancel checks) showed in the benchmark profile.
"""

from __future__ import annotations

import asyncio


class Wakeup:
    """``wait`` until ``wake`` is called, or ``timeout`` seconds pass."""

    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        self._waiter: asyncio.Future[bool] | None = None

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def wait(self, timeout: float | None) -> bool:
        """True when woken, False when ``timeout`` passed first (None: no limit)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        timer = None if timeout is None else loop.call_later(timeout, _time_up, waiter)
        try:
            return await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()


def _time_up(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
