"""What the instances tell each other on Redis's ``notices`` channel, and who hears it here.

A notice carries its data, so the instances that hear it apply the change without a round trip:
an account's new state (``account``), the sessions bound in one write (``bindings``: each as the hash
of its session and model, the account and the seconds left; a session id never travels in clear), an
account record changed in the shared store (``record``, from ``auth/redis_store.py``). Every
instance hears its own notices too; they are dropped here, by the sender's id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from cliproxy.state.base import AccountListener, BindingListener, ReconnectListener, RecordListener

log = logging.getLogger(__name__)


class Notices:
    """The listeners of one instance, and the one function that hands each notice to them."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        # How this instance's own notices begin (each is written with "from" first): they are dropped
        # before being parsed, as a busy instance hears one per write it makes.
        self._own = b'{"from":' + orjson.dumps(instance)
        self.accounts: list[AccountListener] = []
        self.bindings: list[BindingListener] = []
        self.reconnects: list[ReconnectListener] = []
        self.records: list[RecordListener] = []

    def reconnected(self) -> None:
        for listener in self.reconnects:
            call(listener)

    def dispatch(self, raw: Any) -> None:
        if isinstance(raw, bytes) and raw.startswith(self._own):
            return
        try:
            notice = orjson.loads(raw)
        except (orjson.JSONDecodeError, TypeError):
            return
        if not isinstance(notice, dict) or notice.get("from") == self.instance:
            return
        kind = notice.get("kind")
        if kind == "account" and isinstance(notice.get("data"), dict):
            for listener in self.accounts:
                call(listener, str(notice.get("name")), notice["data"])
        elif kind == "bindings" and isinstance(notice.get("items"), list):
            for hashed, account, ttl in _triples(notice["items"]):
                for bound in self.bindings:
                    call(bound, hashed, account, ttl)
        elif kind == "record":
            for changed in self.records:
                call(changed, str(notice.get("name")))


def bindings_notice(instance: str, bindings: dict[str, tuple[str, float]]) -> bytes:
    """One notice for the bindings of one write: ``{hash: (account, seconds left)}``."""
    items = [[hashed, account, ttl] for hashed, (account, ttl) in bindings.items()]
    return orjson.dumps({"from": instance, "kind": "bindings", "items": items})


def _triples(items: list[Any]) -> Iterator[tuple[str, str, float]]:
    """A bindings notice's items, each ``[hash, account, seconds left]``; malformed ones skipped."""
    for item in items:
        if isinstance(item, list) and len(item) == 3 and isinstance(item[2], int | float):
            yield str(item[0]), str(item[1]), float(item[2])


def call(listener: Callable[..., None], *args: Any) -> None:
    """A listener's bug is logged, never allowed to stop the loop that feeds every listener."""
    try:
        listener(*args)
    except Exception:
        log.exception("state: a listener failed")


__all__ = ["Notices", "bindings_notice", "call"]
