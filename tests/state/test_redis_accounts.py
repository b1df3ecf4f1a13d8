"""Account records in a real Redis (``state.accounts: redis``): whole, encrypted, locked across processes."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import redis

from cliproxy.auth.redis_store import RedisAccountStore, new_key
from cliproxy.auth.store import StoreError, StoreUnavailable
from tests.fakes.redis_server import RedisServer
from tests.fakes.serving import free_port

NAME = "codex-someone@example.com-plus.json"


def record(access: str = "at-secret-access-0001", refresh: str = "rt-secret-refresh-0001") -> dict[str, Any]:
    return {"type": "codex", "email": "someone@example.com", "account_id": "acct_77", "access_token": access,
            "refresh_token": refresh, "id_token": "header.payload.signature-0001", "label": "work",
            "last_refresh": "2026-11-01T00:00:00Z", "expired": "2099-01-01T00:00:00Z"}


def every_byte(client: redis.Redis) -> bytes:
    """Every key of the Redis and every value it holds (strings, hashes with their fields), joined."""
    seen: list[bytes | str] = []
    for key in client.scan_iter(match="*"):
        seen.append(key)
        kind = client.type(key)
        if kind == b"hash":
            for field, value in client.hgetall(key).items():
                seen += [field, value]
        elif kind == b"string":
            seen.append(client.get(key) or b"")
        else:
            raise AssertionError(f"a {kind!r} key this scan does not read: {key!r}")
    return b"\n".join(item if isinstance(item, bytes) else item.encode() for item in seen)


def test_a_record_comes_back_whole_and_is_listed_by_its_name(redis_server: RedisServer) -> None:
    store = RedisAccountStore(redis_server.url, new_key(), prefix="t")
    store.write(NAME, record())
    assert store.names() == [NAME]
    assert store.read(NAME) == record()
    assert store.read("codex-other.json") is None
    assert store.remove(NAME) and store.names() == [] and store.read(NAME) is None
    assert not store.remove(NAME)


def test_keys_change_by_listing_the_new_one_first(redis_server: RedisServer) -> None:
    old, new = new_key(), new_key()
    RedisAccountStore(redis_server.url, old, prefix="t").write(NAME, record())
    both = RedisAccountStore(redis_server.url, f"{new}, {old}", prefix="t")
    assert both.read(NAME) == record()  # written under the old key, read with the list
    both.write(NAME, record(access="at-secret-access-0002"))  # written again: under the new key
    assert RedisAccountStore(redis_server.url, new, prefix="t").read(NAME) == record(access="at-secret-access-0002")
    with pytest.raises(StoreError, match="cannot be decrypted"):
        RedisAccountStore(redis_server.url, old, prefix="t").read(NAME)


def test_redis_holds_no_token_email_or_account_name_in_clear(redis_server: RedisServer) -> None:
    client = redis_server.client()
    notices = client.pubsub()
    notices.subscribe("t:notices")
    store = RedisAccountStore(redis_server.url, new_key(), prefix="t")
    store.write(NAME, record())
    with store.lock(NAME):
        stored = every_byte(client)
    messages = (notices.get_message(ignore_subscribe_messages=True, timeout=0.5) for _ in range(4))
    heard = b"".join(message["data"] for message in messages if message is not None)
    assert heard  # a write is announced
    for secret in ("at-secret-access-0001", "rt-secret-refresh-0001", "signature-0001", "someone@example.com",
                   "someone", NAME, "acct_77", "work"):
        assert secret.encode() not in stored, secret
        assert secret.encode() not in heard, secret


def test_a_wrong_key_is_refused_with_a_message_that_says_so(redis_server: RedisServer) -> None:
    RedisAccountStore(redis_server.url, new_key(), prefix="t").write(NAME, record())
    other = RedisAccountStore(redis_server.url, new_key(), prefix="t")
    with pytest.raises(StoreError) as refused:
        other.names()
    message = str(refused.value)
    assert "cannot be decrypted with this key" in message and "accounts-key" in message
    assert "secret" not in message and "@" not in message


def test_a_key_that_is_not_a_fernet_key_is_refused_at_once(redis_server: RedisServer) -> None:
    with pytest.raises(StoreError, match="not a Fernet key"):
        RedisAccountStore(redis_server.url, "not-a-key", prefix="t")


def test_redis_away_is_unavailable_not_a_traceback() -> None:
    store = RedisAccountStore(f"redis://127.0.0.1:{free_port()}/0", new_key(), prefix="t", timeout=0.2)
    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.names()


def test_the_lock_is_held_by_one_holder_across_stores(redis_server: RedisServer) -> None:
    key = new_key()
    first, second = (RedisAccountStore(redis_server.url, key, prefix="t") for _ in range(2))
    order: list[str] = []
    entered = threading.Event()

    def hold() -> None:
        with first.lock(NAME):
            entered.set()
            order.append("first in")
            time.sleep(0.3)  # the second waits meanwhile
            order.append("first out")

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)

    async def wait_for_it() -> None:
        async with second.alock(NAME):
            order.append("second in")

    asyncio.run(wait_for_it())
    holder.join()
    assert order == ["first in", "first out", "second in"]

