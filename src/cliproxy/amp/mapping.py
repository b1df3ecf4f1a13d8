"""Which way an Amp inference request goes: served by the pool, mapped to a pool model, or forwarded.

Pure: the caller says which model names the pool serves (``serves``). A mapping's ``from`` matches
case-insensitively, exact entries before regular expressions (Python syntax, unanchored: write
``^…$`` to anchor). A thinking suffix the client sent (``alias(high)``) is carried onto the target
unless the target has its own (``gpt-5.4(xhigh)``); an empty ``()`` counts as no suffix. A mapping
whose target the pool cannot serve is no mapping at all, so the request goes on as if unmapped.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cliproxy.config.ampcode import ModelMapping

Serves = Callable[[str], bool]


def split_suffix(name: str) -> tuple[str, str]:
    """``"gpt-5.4(high)"`` → ``("gpt-5.4", "high")``; no suffix (or ``()``) gives ``""``."""
    if name.endswith(")"):
        opening = name.rfind("(")
        if opening > 0:
            return name[:opening], name[opening + 1:-1]
    return name, ""


@dataclass(frozen=True)
class ModelMapper:
    """The ``model-mappings`` of one settings snapshot, ready to look up."""

    exact: Mapping[str, str]
    patterns: tuple[tuple[re.Pattern[str], str], ...]

    @classmethod
    def build(cls, entries: Iterable[ModelMapping], warn: Callable[[str], None]) -> ModelMapper:
        """Blank entries and invalid patterns are skipped with a warning; a later exact entry wins."""
        exact: dict[str, str] = {}
        patterns: list[tuple[re.Pattern[str], str]] = []
        for position, entry in enumerate(entries):
            source, target = entry.from_.strip(), entry.to.strip()
            if not source or not target:
                warn(f"ampcode.model-mappings[{position}]: `from` and `to` are both needed; entry skipped")
            elif not entry.regex:
                exact[source.lower()] = target
            else:
                try:
                    patterns.append((re.compile(source, re.IGNORECASE), target))
                except re.error as exc:
                    warn(f"ampcode.model-mappings[{position}]: invalid regex ({exc}); entry skipped")
        return cls(exact, tuple(patterns))

    def lookup(self, name: str, serves: Serves) -> str | None:
        """The served model ``name`` maps to, with the suffix rule applied; None when none applies."""
        base, suffix = split_suffix(name.strip())
        if not base:
            return None
        target = self.exact.get(base.lower())
        if target is None:
            target = next((to for pattern, to in self.patterns if pattern.search(base)), None)
        if target is None or not serves(split_suffix(target)[0]):
            return None
        if split_suffix(target)[1] or not suffix:
            return target
        return f"{target}({suffix})"


class Way(enum.Enum):
    LOCAL = "local"  # the pool serves the model as asked
    MAPPED = "mapped"  # the pool serves the mapping's target
    UPSTREAM = "upstream"  # nothing here serves it: ampcode.com's to answer


@dataclass(frozen=True)
class Decision:
    way: Way
    model: str  # what the local handler gets (the mapped target for MAPPED; as asked otherwise)
    requested: str


def decide(requested: str, mapper: ModelMapper, serves: Serves, force: bool) -> Decision:
    """Local first (mappings first with ``force``), then a mapping, else the upstream."""
    base = split_suffix(requested.strip())[0]
    mapped = mapper.lookup(requested, serves) or mapper.lookup(base, serves)
    if mapped is not None and (force or not serves(base)):
        return Decision(Way.MAPPED, mapped, requested)
    if serves(base):
        return Decision(Way.LOCAL, requested, requested)
    return Decision(Way.UPSTREAM, requested, requested)


__all__ = ["Decision", "ModelMapper", "Serves", "Way", "decide", "split_suffix"]
