"""What the Codex backend says about an account's quota: each source read into a ``Report``.

Three sources report windows: the ``x-codex-*`` response headers, the ``codex.rate_limits``
stream event and the ``GET …/wham/usage`` body the poller reads; a
``usage_limit_reached`` 429 body is read by the upstream's classifier. Windows are classified
by their length (≤ 1 day is *short*, longer is *long*), never by the slot they came in: captures
show a weekly window in the ``primary`` slot. A window whose ``reset_at`` has passed counts as 0 %
used. What the pool keeps of these reports, and shows of them, is ``pool/quota_view.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cliproxy.config.coerce import as_bool, as_float

SHORT, LONG = "short", "long"
DAY_MINUTES = 24 * 60
CODEX_FAMILY = "codex"


def window_class(minutes: int) -> str:
    """``short`` up to a day (the 5-hour window), ``long`` beyond (weekly, monthly)."""
    return SHORT if minutes <= DAY_MINUTES else LONG


@dataclass(slots=True)
class Window:
    """One rate-limit window as last observed."""

    used_percent: float
    window_minutes: int
    reset_at: float  # Unix seconds; 0 = not told

    def used_at(self, now: float) -> float:
        """Used percent now: a window whose reset time has passed starts again at 0 %."""
        return 0.0 if 0 < self.reset_at <= now else self.used_percent

    def full_at(self, now: float) -> bool:
        return self.used_at(now) >= 100.0

    def to_dict(self) -> dict[str, Any]:
        return {"used_percent": self.used_percent, "window_minutes": self.window_minutes,
                "reset_at": self.reset_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Window:
        return cls(float(data.get("used_percent") or 0), int(data.get("window_minutes") or 0),
                   float(data.get("reset_at") or 0))


@dataclass(slots=True)
class Credits:
    has_credits: bool
    unlimited: bool
    balance: float | None = None


@dataclass(slots=True)
class Family:
    """One limit family (``codex``, ``codex_bengalfox``…): its windows by class and its name."""

    windows: dict[str, Window] = field(default_factory=dict)
    limit_name: str = ""


@dataclass(slots=True)
class Report:
    """One observation of an account's quota, from a header set or an event."""

    families: dict[str, Family] = field(default_factory=dict)
    plan: str = ""
    credits: Credits | None = None
    source: str = ""


# --------------------------------------------------------------------------------------------
# Parsing the headers and the event
# --------------------------------------------------------------------------------------------


def family_id(name: str) -> str:
    """``x-codex-bengalfox`` / ``codex-bengalfox`` → ``codex_bengalfox`` (Codex CLI's normalisation)."""
    name = name.lower()
    if name.startswith("x-"):
        name = name[2:]
    return name.replace("-", "_") or CODEX_FAMILY


def _window(used: Any, minutes: Any, reset_at: Any, reset_after: Any, now: float) -> Window | None:
    """A window exists when used-percent is a number and something says it is real
    (a non-zero share, a length or a reset time), as Codex CLI decides."""
    used_percent = as_float(used)
    if used_percent is None:
        return None
    length = int(as_float(minutes) or 0)
    at = as_float(reset_at) or 0.0
    if not at and (after := as_float(reset_after)) is not None and after > 0:
        at = now + after
    if used_percent == 0 and length == 0 and not at:
        return None
    return Window(used_percent, max(0, length), at)


def _put(family: Family, window: Window | None) -> None:
    """Keep one window per class; if two land in one class the fuller one binds."""
    if window is None:
        return
    kind = window_class(window.window_minutes)
    known = family.windows.get(kind)
    if known is None or window.used_percent > known.used_percent:
        family.windows[kind] = window


def _credits(has: Any, unlimited: Any, balance: Any) -> Credits | None:
    """Credits when both flags are readable; a balance alone says nothing."""
    has_credits, is_unlimited = as_bool(has), as_bool(unlimited)
    if has_credits is None or is_unlimited is None:
        return None
    return Credits(has_credits, is_unlimited, as_float(balance))


def _credits_of(raw: Any) -> Credits | None:
    """The ``credits`` object of an event or a usage body."""
    if not isinstance(raw, dict):
        return None
    return _credits(raw.get("has_credits"), raw.get("unlimited"), raw.get("balance"))


_SLOTS = ("primary", "secondary")
_USED = "-used-percent"


def parse_headers(headers: Mapping[str, str], now: float) -> Report | None:
    """The ``x-codex-*`` headers of one response; None when it carries none.

    One pass picks the ``x-codex-`` names out; a family is every prefix that has a
    ``-{primary,secondary}-used-percent`` header (``x-codex``, ``x-codex-bengalfox``…).
    """
    found = {key.lower(): value for key, value in headers.items() if key[:8].lower() == "x-codex-"}
    if not found:
        return None
    report = Report(source="headers", plan=found.get("x-codex-plan-type", "").strip().lower())
    for name in found:
        if not name.endswith(_USED):
            continue
        prefix, _, slot = name[: -len(_USED)].rpartition("-")
        if slot != "primary" and not (slot == "secondary" and prefix + "-primary" + _USED not in found):
            continue  # each family once: from its primary header, or its secondary when alone
        family = Family(limit_name=found.get(prefix + "-limit-name", ""))
        for each in _SLOTS:
            base = f"{prefix}-{each}"
            _put(family, _window(found.get(base + _USED), found.get(base + "-window-minutes"),
                                 found.get(base + "-reset-at"), found.get(base + "-reset-after-seconds"), now))
        report.families[family_id(prefix)] = family
    report.credits = _credits(found.get("x-codex-credits-has-credits"), found.get("x-codex-credits-unlimited"),
                              found.get("x-codex-credits-balance"))
    return report if report.families or report.credits or report.plan else None


def parse_event(event: Mapping[str, Any], now: float) -> Report | None:
    """A ``codex.rate_limits`` event."""
    limits = event.get("rate_limits")
    if not isinstance(limits, dict):
        return None
    name = event.get("metered_limit_name") or event.get("limit_name") or CODEX_FAMILY
    family = Family(limit_name=str(event.get("limit_name") or ""))
    for slot in ("primary", "secondary"):
        raw = limits.get(slot)
        if isinstance(raw, dict):
            _put(family, _window(raw.get("used_percent"), raw.get("window_minutes"),
                                 raw.get("reset_at", raw.get("resets_at")), raw.get("reset_after_seconds"), now))
    report = Report(families={family_id(str(name)): family}, source="event",
                    plan=str(event.get("plan_type") or "").lower())
    report.credits = _credits_of(event.get("credits"))
    return report


def _read_window(raw: Any, now: float) -> Window | None:
    """A usage-body window: ``limit_window_seconds`` → minutes rounded up, as Codex CLI does."""
    if not isinstance(raw, dict):
        return None
    seconds = as_float(raw.get("limit_window_seconds")) or 0.0
    return _window(raw.get("used_percent"), math.ceil(seconds / 60) if seconds > 0 else 0,
                   raw.get("reset_at"), raw.get("reset_after_seconds"), now)


def _read_family(limits: Any, limit_name: str, now: float) -> Family | None:
    if not isinstance(limits, dict):
        return None
    family = Family(limit_name=limit_name)
    for slot in ("primary_window", "secondary_window"):
        _put(family, _read_window(limits.get(slot), now))
    return family


def parse_usage(body: Any, now: float) -> Report | None:
    """A ``GET …/wham/usage`` answer, as the poll reads it for one account."""
    if not isinstance(body, dict):
        return None
    report = Report(source="usage", plan=str(body.get("plan_type") or "").lower())
    if (main := _read_family(body.get("rate_limit"), "", now)) is not None:
        report.families[CODEX_FAMILY] = main
    for extra in body.get("additional_rate_limits") or ():
        if isinstance(extra, dict) and extra.get("metered_feature"):
            name = str(extra.get("normal_model_slug") or extra.get("limit_name") or "")
            if (family := _read_family(extra.get("rate_limit"), name, now)) is not None:
                report.families[family_id(str(extra["metered_feature"]))] = family
    report.credits = _credits_of(body.get("credits"))
    return report if report.families or report.credits or report.plan else None


def has_headroom(report: Report, now: float) -> bool:
    """Whether a quota read says the account can serve again: its ``codex`` windows are known and
    none is full."""
    family = report.families.get(CODEX_FAMILY)
    return family is not None and bool(family.windows) and not any(
        window.full_at(now) for window in family.windows.values())
