"""The pool's quota: one account's record of its reports, and the pool shown as one account.

``AccountQuota`` keeps what the reports of ``pool/quota.py`` said about one account (a newer one
replaces the family it covers) and answers the pool's questions: is the account blocked, for
which model, how much headroom is left, when does that change.

The pool view (``PoolQuota``) aggregates every account into the one account Codex CLI believes it
has: the usage endpoint body, the ``codex.rate_limits`` event and the response headers all come
from it, so the status line shows the pool, not whichever account served the last turn.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cliproxy.config.coerce import as_float
from cliproxy.pool.quota import CODEX_FAMILY, LONG, SHORT, Credits, Family, Report, Window

CLASS_SECONDS = {SHORT: 5 * 3600, LONG: 7 * 24 * 3600}
UNKNOWN_RESET_RECHECK = 300.0  # a full window without a reset time is looked at again after this
# plan_type values Codex CLI decodes (quota.md §3.2); anything else fails its decode.
KNOWN_PLANS = frozenset({"guest", "free", "go", "plus", "pro", "prolite", "free_workspace", "team",
                         "self_serve_business_usage_based", "business", "enterprise_cbp_usage_based",
                         "enterprise", "education", "edu", "quorum", "k12"})
DEFAULT_PLAN = "plus"


# --------------------------------------------------------------------------------------------
# One account's quota
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AccountQuota:
    """Everything known about one account's quota; ``limit_until`` comes from a 429 body."""

    families: dict[str, Family] = field(default_factory=dict)
    plan: str = ""
    credits: Credits | None = None
    observed_at: float = 0.0
    source: str = ""
    limit_until: float = 0.0

    def apply(self, report: Report, now: float) -> None:
        """A newer observation replaces what it covers: a family's windows as a whole."""
        self.families.update(report.families)
        if report.plan:
            self.plan = report.plan
        if report.credits is not None:
            self.credits = report.credits
        self.observed_at, self.source = now, report.source

    def limit_reached(self, until: float, plan: str, now: float) -> None:
        """A ``usage_limit_reached`` 429: the account is spent until ``until``."""
        self.limit_until = max(self.limit_until, until)
        if plan:
            self.plan = plan.lower()
        self.observed_at, self.source = now, "429"

    def clear_limit(self) -> None:
        self.limit_until = 0.0

    def windows(self, family: str = CODEX_FAMILY) -> dict[str, Window]:
        found = self.families.get(family)
        return found.windows if found else {}

    def blocked_until(self, now: float) -> float:
        """When the ``codex`` quota lets this account serve again (0 = it can serve now)."""
        until = self.limit_until if self.limit_until > now else 0.0
        for window in self.windows().values():
            if window.full_at(now):
                until = max(until, window.reset_at or now + UNKNOWN_RESET_RECHECK)
        return until

    def model_blocked_until(self, model: str, now: float) -> float:
        """Another family at 100 % blocks only the model its ``limit_name`` names."""
        until = 0.0
        lowered = model.lower()
        for fid, family in self.families.items():
            if fid == CODEX_FAMILY or not family.limit_name or family.limit_name.lower() != lowered:
                continue
            for window in family.windows.values():
                if window.full_at(now):
                    until = max(until, window.reset_at or now + UNKNOWN_RESET_RECHECK)
        return until

    def headroom(self, now: float) -> tuple[float, float]:
        """(percent left in the binding window, its reset time); an unknown account has 100 %."""
        worst_used, reset = 0.0, math.inf
        for window in self.windows().values():
            used = window.used_at(now)
            if used > worst_used or (used == worst_used and window.reset_at and window.reset_at < reset):
                worst_used, reset = used, window.reset_at if window.reset_at > now else math.inf
        return max(0.0, 100.0 - worst_used), reset

    def next_change(self, now: float) -> float:
        """The next instant a window resets (headroom changes then without any new observation)."""
        times = [w.reset_at for f in self.families.values() for w in f.windows.values() if w.reset_at > now]
        return min(times, default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "families": {fid: {"limit_name": f.limit_name,
                               "windows": {kind: w.to_dict() for kind, w in f.windows.items()}}
                         for fid, f in self.families.items()},
            "plan": self.plan,
            "credits": None if self.credits is None else {
                "has_credits": self.credits.has_credits, "unlimited": self.credits.unlimited,
                "balance": self.credits.balance},
            "observed_at": self.observed_at,
            "source": self.source,
            "limit_until": self.limit_until,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountQuota:
        quota = cls(plan=str(data.get("plan") or ""), observed_at=float(data.get("observed_at") or 0),
                    source=str(data.get("source") or ""), limit_until=float(data.get("limit_until") or 0))
        for fid, raw in (data.get("families") or {}).items():
            windows = {kind: Window.from_dict(w) for kind, w in (raw.get("windows") or {}).items()}
            quota.families[str(fid)] = Family(windows, str(raw.get("limit_name") or ""))
        credits = data.get("credits")
        if isinstance(credits, dict):
            quota.credits = Credits(bool(credits.get("has_credits")), bool(credits.get("unlimited")),
                                    as_float(credits.get("balance")))
        return quota


# --------------------------------------------------------------------------------------------
# The pool view (quota.md §6 "client-view: pool")
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolWindow:
    used_percent: int  # equal-weight mean over accounts that report this class, 0–100
    reset_at: int  # the earliest reset among them
    kind: str

    @property
    def seconds(self) -> int:
        return CLASS_SECONDS[self.kind]

    def reset_after(self, now: float) -> int:
        return max(0, int(self.reset_at - now))


@dataclass(frozen=True, slots=True)
class PoolQuota:
    """The pool as one account: what Codex CLI is shown."""

    allowed: bool  # some account can serve without waiting for a quota reset
    plan: str
    short: PoolWindow | None
    long: PoolWindow | None
    credits: Credits | None

    def usage_body(self, now: float) -> dict[str, Any]:
        """``GET …/wham/usage`` in the shape Codex CLI decodes: integers, no nulls in windows."""
        return {
            "user_id": "cliproxy",
            "account_id": "cliproxy-pool",
            "email": "pool@cliproxy.local",
            "plan_type": self.plan,
            "rate_limit": {"allowed": self.allowed, "limit_reached": not self.allowed,
                           "primary_window": _usage_window(self.short, now),
                           "secondary_window": _usage_window(self.long, now)},
            "code_review_rate_limit": None,
            "additional_rate_limits": [],
            "credits": _usage_credits(self.credits),
            "spend_control": {"reached": False},
            "rate_limit_reached_type": None if self.allowed else {"type": "rate_limit_reached"},
            "rate_limit_reset_credits": {"available_count": 0},
            "rate_limit_upsell": None,
            "promo": None,
        }

    def rate_limits_event(self) -> dict[str, Any]:
        """A ``codex.rate_limits`` event carrying the pool's values instead of one account's."""
        limits: dict[str, Any] = {"allowed": self.allowed, "limit_reached": not self.allowed}
        for slot, window in (("primary", self.short), ("secondary", self.long)):
            limits[slot] = None if window is None else {
                "used_percent": window.used_percent, "window_minutes": window.seconds // 60,
                "reset_at": window.reset_at}
        credits = self.credits or Credits(False, False, None)
        return {"type": "codex.rate_limits", "plan_type": self.plan, "metered_limit_name": CODEX_FAMILY,
                "rate_limits": limits,
                "credits": {"has_credits": credits.has_credits, "unlimited": credits.unlimited,
                            "balance": None if credits.balance is None else _balance(credits.balance)}}

    def headers(self, now: float) -> dict[str, str]:
        """``x-codex-*`` response headers with the pool's values (Codex CLI reads them over HTTP)."""
        out = {"x-codex-plan-type": self.plan, "x-codex-active-limit": CODEX_FAMILY}
        for slot, window in (("primary", self.short), ("secondary", self.long)):
            if window is None:
                continue
            out[f"x-codex-{slot}-used-percent"] = str(window.used_percent)
            out[f"x-codex-{slot}-window-minutes"] = str(window.seconds // 60)
            out[f"x-codex-{slot}-reset-at"] = str(window.reset_at)
            out[f"x-codex-{slot}-reset-after-seconds"] = str(window.reset_after(now))
        if self.credits is not None:
            out["x-codex-credits-has-credits"] = str(self.credits.has_credits)
            out["x-codex-credits-unlimited"] = str(self.credits.unlimited)
            out["x-codex-credits-balance"] = _balance(self.credits.balance or 0)
        return out


def _balance(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _usage_window(window: PoolWindow | None, now: float) -> dict[str, int] | None:
    if window is None:
        return None
    return {"used_percent": window.used_percent, "limit_window_seconds": window.seconds,
            "reset_after_seconds": window.reset_after(now), "reset_at": window.reset_at}


def _usage_credits(credits: Credits | None) -> dict[str, Any]:
    credits = credits or Credits(False, False, 0)
    return {"has_credits": credits.has_credits, "unlimited": credits.unlimited,
            "balance": _balance(credits.balance or 0), "approx_local_messages": None,
            "approx_cloud_messages": None}


def _aggregate(kind: str, windows: list[Window], accounts: int, now: float) -> PoolWindow | None:
    """Equal-weight mean over every usable account: one that never reported this window (not used
    yet) counts as 0 %, so one spent account of two shows as half the pool, not all of it."""
    if not windows:
        return None
    mean = sum(min(100.0, max(0.0, w.used_at(now))) for w in windows) / max(accounts, len(windows))
    resets = [w.reset_at for w in windows if w.reset_at > now]
    reset_at = min(resets) if resets else now + CLASS_SECONDS[kind]
    return PoolWindow(round(mean), int(reset_at), kind)


def common_plan(plans: Iterable[str]) -> str:
    """The most common plan Codex CLI knows, else ``plus``."""
    counts = Counter(plan for plan in plans if plan in KNOWN_PLANS)
    return counts.most_common(1)[0][0] if counts else DEFAULT_PLAN


def pool_quota(accounts: Iterable[tuple[AccountQuota, str]], allowed: bool, now: float) -> PoolQuota:
    """Aggregate ``(quota, credential plan)`` pairs of the pool's usable accounts."""
    by_class: dict[str, list[Window]] = {SHORT: [], LONG: []}
    plans: list[str] = []
    credits: Credits | None = None
    count = 0
    for quota, plan in accounts:
        count += 1
        for kind, window in quota.windows().items():
            by_class[kind].append(window)
        plans.append(quota.plan or plan)
        if quota.credits is not None:
            credits = _sum_credits(credits, quota.credits)
    return PoolQuota(allowed=allowed, plan=common_plan(plans), short=_aggregate(SHORT, by_class[SHORT], count, now),
                     long=_aggregate(LONG, by_class[LONG], count, now), credits=credits)


def _sum_credits(total: Credits | None, more: Credits) -> Credits:
    if total is None:
        return Credits(more.has_credits, more.unlimited, more.balance or 0)
    return Credits(total.has_credits or more.has_credits, total.unlimited or more.unlimited,
                   (total.balance or 0) + (more.balance or 0))
