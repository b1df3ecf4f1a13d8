"""Account records in Redis, encrypted: for instances that do not share an auth dir (``state.accounts: redis``).

Layout under the state's prefix (``state/redis.py`` keeps the pool's facts beside it):

| key | what |
|---|---|
| ``records`` | a hash: ``opaque(name)`` → a Fernet token of ``{"name", "record"}`` |
| ``lease:<opaque(name)>`` | the account's lock: the same key as the refresh lease of the shared state |
| ``notices`` | a write or a removal publishes ``{"kind": "record", "name": opaque(name)}`` |

An account's name is its file name, which may hold an e-mail, so it travels only inside the encrypted
payload, and the hash's fields are opaque; a record is never in Redis in clear. Fernet (AES-CBC with an
HMAC) both hides the tokens and refuses a record changed or encrypted under another key.

Why synchronous: ``CredentialStore`` is, and its users are the CLI (synchronous), start-up, and a few
async callers off the request path (the refresher after a 401, the reloader after a notice, the
management API), which call it through ``asyncio.to_thread``. The request path never calls a store:
the pool serves from the credentials it holds in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, TypeVar

import orjson
import redis
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from redis.exceptions import RedisError

from cliproxy.auth.store import LOCK_TIMEOUT, StoreError, StoreUnavailable, check_name, parse_record
from cliproxy.config.load import accounts_keys
from cliproxy.state.base import opaque
from cliproxy.state.redis import where
from cliproxy.state.redis_lease import RELEASE_SCRIPT

T = TypeVar("T")
LOCK_POLL = 0.05
# The lock outlives one refresh with its retries, as the file store's wait does; a holder that died
# keeps it that long at most.
LOCK_TTL_MS = int(LOCK_TIMEOUT * 1000)
KEY_HELP = ("every instance needs the same state.accounts-key (or CLIPROXY_ACCOUNTS_KEY) as the one that "
            "wrote them")


def new_key() -> str:
    """A fresh key for ``state.accounts-key``."""
    return Fernet.generate_key().decode()


class RedisAccountStore:
    """``CredentialStore`` on Redis; names are account file names, as in the auth dir."""

    def __init__(self, url: str, key: str, *, prefix: str = "cliproxy", timeout: float = 0.5,
                 origin: str = "") -> None:
        try:  # several keys, to change keys: the first encrypts, any decrypts
            self._fernet = MultiFernet([Fernet(each.encode()) for each in accounts_keys(key)])
        except ValueError:
            raise StoreError("state.accounts-key is not a Fernet key; `cliproxy accounts key` prints a new one") \
                from None
        self.where, self._prefix, self._origin = where(url), prefix, origin
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._release = self._redis.register_script(RELEASE_SCRIPT)

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def _call(self, operation: Callable[[], T]) -> T:
        """One Redis operation; Redis away is :class:`StoreUnavailable`, never a traceback."""
        try:
            return operation()
        except (RedisError, OSError):
            raise StoreUnavailable(f"Redis at {self.where} is unreachable") from None

    def location(self, name: str) -> str:
        return f"Redis at {self.where} (prefix {self._prefix!r})"

    # ---- records ------------------------------------------------------------------------------------

    def _seal(self, name: str, record: Mapping[str, Any]) -> bytes:
        return self._fernet.encrypt(orjson.dumps({"name": name, "record": {**record, "type": "codex"}}))

    def _open(self, token: bytes | str) -> tuple[str, dict[str, Any] | None]:
        """The name and codex record in one stored value; a wrong key is a StoreError that says so."""
        try:
            payload = orjson.loads(self._fernet.decrypt(token if isinstance(token, bytes) else token.encode()))
        except InvalidToken:
            raise StoreError(f"the account records in {self.location('')} cannot be decrypted with this key: "
                             f"{KEY_HELP}") from None
        except orjson.JSONDecodeError:
            return "", None
        record = payload.get("record") if isinstance(payload, dict) else None
        raw = orjson.dumps(record) if isinstance(record, dict) else b""
        return str(payload.get("name") or ""), parse_record(raw)

    def names(self) -> list[str]:
        stored = self._call(lambda: self._redis.hvals(self._key("records")))
        return sorted(name for name in (self._open(token)[0] for token in stored) if name)

    def read(self, name: str) -> dict[str, Any] | None:
        token = self._call(lambda: self._redis.hget(self._key("records"), opaque(check_name(name))))
        if token is None:
            return None
        found, record = self._open(token)
        return record if found == name else None

    def write(self, name: str, record: Mapping[str, Any]) -> None:
        field, sealed = opaque(check_name(name)), self._seal(name, record)

        def write() -> None:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self._key("records"), field, sealed)
            pipe.publish(self._key("notices"), self._notice(field))
            pipe.execute()

        self._call(write)

    def remove(self, name: str) -> bool:
        field = opaque(check_name(name))

        def remove() -> bool:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hdel(self._key("records"), field)
            pipe.publish(self._key("notices"), self._notice(field))
            return bool(pipe.execute()[0])

        return self._call(remove)

    def _notice(self, field: str) -> bytes:
        """What other instances hear: which record changed (opaque), never what it holds."""
        return orjson.dumps({"from": self._origin, "kind": "record", "name": field})

    # ---- the lock: the account's refresh lease, shared with every instance -----------------------------

    def _try_lock(self, key: str, token: str) -> bool:
        return bool(self._call(lambda: self._redis.set(key, token, nx=True, px=LOCK_TTL_MS)))

    def _unlock(self, key: str, token: str) -> None:
        with contextlib.suppress(StoreError):
            self._call(lambda: self._release(keys=[key], args=[token]))

    def _locked_out(self, name: str) -> StoreError:
        return StoreError(f"account {name} is locked by another process or instance")

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        key, token = self._key("lease", opaque(check_name(name))), secrets.token_hex(16)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while not self._try_lock(key, token):
            if time.monotonic() > deadline:
                raise self._locked_out(name)
            time.sleep(LOCK_POLL)
        try:
            yield
        finally:
            self._unlock(key, token)

    @contextlib.asynccontextmanager
    async def alock(self, name: str) -> AsyncIterator[None]:
        """Each try runs in a thread, so a slow Redis never blocks the event loop. A waiter cancelled
        while a try is in flight releases what that try may have taken (compare-and-delete: only ours)."""
        key, token = self._key("lease", opaque(check_name(name))), secrets.token_hex(16)
        deadline = time.monotonic() + LOCK_TIMEOUT
        try:
            while not await asyncio.to_thread(self._try_lock, key, token):
                if time.monotonic() > deadline:
                    raise self._locked_out(name)
                await asyncio.sleep(LOCK_POLL)
        except asyncio.CancelledError:
            asyncio.get_running_loop().run_in_executor(None, self._unlock, key, token)
            raise
        try:
            yield
        finally:
            await asyncio.to_thread(self._unlock, key, token)

    def close(self) -> None:
        self._redis.close()


__all__ = ["RedisAccountStore", "new_key"]
