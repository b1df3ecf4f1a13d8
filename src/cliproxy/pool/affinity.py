"""Session affinity: one conversation stays on one account, because the prompt cache lives there.

The backend caches a conversation's prefix per account; a turn served by another account pays
for the whole prompt again and answers slower. So a session id is bound to the
account that served it, for ``routing.session-affinity-ttl`` after its last use, in a bounded
LRU table. The pool decides when a binding moves (the account cools down) and when it is kept
(a transient error: the turn goes elsewhere, the next one comes back).

With several instances, one that starts (or whose shared store comes back) after bindings were made
reads them from the store, where a session is known only by ``opaque(session, model)``. Those
bindings wait in a second table keyed by that hash; a lookup that misses the first table hashes
its (session, model) and, on a match, moves the binding into the first. The hash is paid only while
that second table holds anything, so an instance on its own never pays it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson

from cliproxy.state.base import opaque

DEFAULT_TTL = 3600.0
MAX_ENTRIES = 50_000
# Client headers that name a conversation, first match wins (docs/pool.md, "Session affinity").
SESSION_HEADERS = ("x-session-id", "session-id", "session_id", "x-amp-thread-id", "conversation_id",
                   "x-client-request-id")


def _first_message_hash(body: Mapping[str, Any]) -> str | None:
    """A conversation's first user message (with the instructions) names it when nothing else does."""
    items = body.get("input")
    if not isinstance(items, list):
        return None
    first = next((item for item in items if isinstance(item, dict) and item.get("role") == "user"), None)
    if first is None:
        return None
    digest = hashlib.blake2b(orjson.dumps([body.get("instructions") or "", first.get("content")],
                                          option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()
    return "first:" + digest


def session_id(headers: Mapping[str, str], body: Mapping[str, Any], dialect_session: str | None) -> str | None:
    """The session a request belongs to: the dialect's own id (Claude Code session, Responses
    ``prompt_cache_key``), the client's ``prompt_cache_key``, a session header, the body's
    ``conversation_id``, else a hash of the first user message.

    Call it before a route adds a derived prompt-cache key (Chat's per-client-key one): that one is
    shared by all of a client's conversations and would pin them all to one account.
    """
    if dialect_session:
        return dialect_session
    key = body.get("prompt_cache_key")
    if isinstance(key, str) and key:
        return key
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value:
            return f"{name}:{value}"
    conversation = body.get("conversation_id")
    if isinstance(conversation, str) and conversation:
        return "conversation:" + conversation
    return _first_message_hash(body)


class Affinity:
    """(session, model) → credential id, expiring ``ttl`` seconds after last use, at most ``limit``."""

    def __init__(self, ttl: float = DEFAULT_TTL, limit: int = MAX_ENTRIES) -> None:
        self.ttl, self.limit = ttl, limit
        self._table: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        # Bindings read from the shared store: opaque(session, model) → (credential id, expiry).
        self._hashed: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table) + len(self._hashed)

    def get(self, session: str, model: str, now: float) -> str | None:
        """Where ``session`` goes now. What another instance said since (a binding heard of by its
        hash) is newer than this instance's own word, so it is looked up first; a lone instance,
        which hears nothing, never pays for the hash."""
        if self._hashed and (claimed := self._claim(session, model, now)) is not None:
            return claimed
        entry = self._table.get((session, model))
        if entry is None:
            return None
        if entry[1] <= now:
            del self._table[(session, model)]
            return None
        return entry[0]

    def _claim(self, session: str, model: str, now: float) -> str | None:
        """A binding heard of or read from the store, matched by its hash: it moves to the first
        table (replacing this instance's own), keeping the time it has left."""
        entry = self._hashed.pop(opaque(session, model), None)
        if entry is None or entry[1] <= now:
            return None
        self._table[(session, model)] = entry
        return entry[0]

    def preload(self, known: list[tuple[str, str, float]], now: float) -> int:
        """Bindings another instance made, as the shared store keeps them: (hash, credential id,
        expiry); the store's newest word replaces an older one read before. The soonest to expire go
        in first, so expiry and the size limit drop from the front. Returns how many were taken."""
        taken = 0
        for key, cid, expires in sorted(known, key=lambda entry: entry[2]):
            if expires > now:
                self._hashed.pop(key, None)
                self._hashed[key] = (cid, expires)
                taken += 1
        while len(self._hashed) > self.limit:
            self._hashed.popitem(last=False)
        return taken

    def latest(self, session: str, now: float) -> str | None:
        """The account ``session`` was last bound to, for any model. Walks the table from the most
        recent end: meant for the rare usage route (``routed`` view), never for the request path."""
        for (sid, _model), (cid, expires) in reversed(self._table.items()):
            if sid == session and expires > now:
                return cid
        return None

    def bind(self, session: str, model: str, credential_id: str, now: float) -> None:
        """Bind or refresh; the least recently used entries go first when the table is full."""
        key = (session, model)
        self._table[key] = (credential_id, now + self.ttl)
        self._table.move_to_end(key)
        while len(self._table) > self.limit:
            self._table.popitem(last=False)
        self._expire(now)

    def _expire(self, now: float) -> None:
        """Entries are in last-use order (read ones in expiry order), so expired ones sit at the front."""
        for table in (self._table, self._hashed):
            while table:
                first = next(iter(table.values()))
                if first[1] > now:
                    break
                table.popitem(last=False)

    def forget(self, credential_ids: set[str]) -> None:
        """Accounts that left the pool take their bindings with them."""
        for key in [k for k, (cid, _) in self._table.items() if cid in credential_ids]:
            del self._table[key]
        for hashed in [k for k, (cid, _) in self._hashed.items() if cid in credential_ids]:
            del self._hashed[hashed]

    def counts(self) -> dict[str, int]:
        """Sessions bound per account (for status listings)."""
        out: dict[str, int] = {}
        for cid, _ in (*self._table.values(), *self._hashed.values()):
            out[cid] = out.get(cid, 0) + 1
        return out
