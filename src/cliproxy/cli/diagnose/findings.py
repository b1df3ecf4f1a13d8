"""A ``Finding``: what one check saw, and what to do when it needs action."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "info", "warn", "fail"]
MARKS: dict[Status, str] = {"ok": "✓", "info": "·", "warn": "!", "fail": "✗"}


@dataclass(frozen=True)
class Finding:
    check: str  # "server", "accounts", "upstream", "claude", …
    status: Status
    detail: str
    fix: str = ""  # what to do; empty when nothing is to be done

    def line(self) -> str:
        text = f"{MARKS[self.status]} {self.check:<9} {self.detail}"
        return text + (f" → {self.fix}" if self.fix else "")


def needs_action(findings: Iterable[Finding]) -> bool:
    """Whether anything failed (a warning is worth reading but does not fail the run)."""
    return any(finding.status == "fail" for finding in findings)


__all__ = ["MARKS", "Finding", "Status", "needs_action"]
