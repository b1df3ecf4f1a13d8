"""Rebuild a completed response's ``output`` from the items streamed before it.

The backend's ``response.completed`` often carries an empty ``output``; every dialect needs the
items, so the runner collects ``response.output_item.done`` items and patches the terminal event.
"""

from __future__ import annotations

from typing import Any


class OutputCollector:
    """Items by ``output_index`` (or arrival order when the event has none)."""

    __slots__ = ("_indexed", "_unindexed")

    def __init__(self) -> None:
        self._indexed: dict[int, dict[str, Any]] = {}
        self._unindexed: list[dict[str, Any]] = []

    def add(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            return
        index = event.get("output_index")
        if isinstance(index, int):
            self._indexed[index] = item
        else:
            self._unindexed.append(item)

    def items(self) -> list[dict[str, Any]]:
        return [self._indexed[i] for i in sorted(self._indexed)] + self._unindexed

    def patch(self, event: dict[str, Any]) -> bool:
        """Fill ``event.response.output`` when it is missing or empty; True when it changed."""
        response = event.get("response")
        if not isinstance(response, dict) or response.get("output"):
            return False
        items = self.items()
        if not items:
            return False
        response["output"] = items
        return True
