"""Moving account records between two stores (the auth dir and Redis): ``cliproxy accounts push/pull``.

A refresh token is single-use, so the record that holds the newer one is the only one that works:
copying an older record over it would sign the account out. A record is therefore copied only when
the target has none, the same one, or an older one (by last refresh, then by expiry); a newer one is
kept and reported, unless forced. Each copy happens under the target's lock of that account, the
lock a refresh takes, so a copy never lands in the middle of a refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cliproxy.auth.record import expiry_of, last_refresh_of
from cliproxy.auth.store import CredentialStore


@dataclass
class Transfer:
    """What a move did, by account name (never a token)."""

    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_newer: list[str] = field(default_factory=list)  # the target's record is newer: not overwritten


def freshness(record: dict[str, Any]) -> tuple[float, float]:
    """(last refresh, expiry), 0 where unknown: the larger is the record with the newer tokens."""
    return last_refresh_of(record) or 0.0, expiry_of(record) or 0.0


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {**a, "type": "codex"} == {**b, "type": "codex"}


def transfer(source: CredentialStore, target: CredentialStore, *, force: bool = False) -> Transfer:
    """Copy every record of ``source`` to ``target``, keeping a newer record there unless ``force``."""
    done = Transfer()
    for name in source.names():
        record = source.read(name)
        if record is None:
            continue
        with target.lock(name):
            current = target.read(name)
            if current is not None and _same(current, record):
                done.unchanged.append(name)
            elif current is not None and not force and freshness(current) > freshness(record):
                done.kept_newer.append(name)
            else:
                target.write(name, record)
                done.copied.append(name)
    return done


__all__ = ["Transfer", "freshness", "transfer"]
