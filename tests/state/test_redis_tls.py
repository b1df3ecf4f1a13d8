"""The shared state on a Redis that speaks only TLS and asks for a password, as a managed Redis does.

Given a real ``redis-server`` with a TLS port only (its certificate issued by a test CA) and
``requirepass``, when instances are given ``rediss://:password@host:port/0?ssl_ca_certs=ca.pem``, then
they write, read and hear each other's notices over TLS; a wrong password or an untrusted certificate
leaves the instance serving from its own view, and no log line or health detail shows the password.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from cliproxy.state.redis import RedisState
from tests.fakes.redis_server import RedisServer, Tls, running_redis
from tests.state.waiting import until

PASSWORD = "s3cret-redis-password-4711"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[RedisServer]:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    files = Tls(tmp_path / "redis.crt", tmp_path / "redis.key", tmp_path / "ca.pem")
    issued.cert_chain_pems[0].write_to_path(str(files.cert))
    issued.private_key_pem.write_to_path(str(files.key))
    ca.cert_pem.write_to_path(str(files.ca))
    workdir = tmp_path / "redis"
    workdir.mkdir()
    with running_redis(workdir, tls=files, password=PASSWORD) as server:
        yield server


async def test_two_instances_share_a_rest_over_tls_with_a_password(tls_redis: RedisServer) -> None:
    assert tls_redis.url.startswith("rediss://")
    one, other = RedisState(tls_redis.url, prefix="t"), RedisState(tls_redis.url, prefix="t")
    heard: list[str] = []
    other.on_account(lambda name, data: heard.append(str(data.get("reason"))))
    await one.start()
    await other.start()
    try:
        assert one.health().connected and other.health().connected
        await until(lambda: len(list(tls_redis.client().scan_iter(match="t:instance:*"))) == 2)
        one.put_account("a", {"reason": "usage limit", "changed_at": time.time()}, time.time() + 60)
        await until(lambda: heard == ["usage limit"])
        assert (await other.accounts())["a"]["reason"] == "usage limit"
        async with other.lease("account-1"):
            assert await one.turn("m") == 1
    finally:
        await one.close()
        await other.close()


@pytest.mark.parametrize("wrong", ["password", "trust"])
async def test_a_wrong_password_or_an_untrusted_certificate_leaves_the_instance_on_its_own(
        tls_redis: RedisServer, wrong: str, caplog: pytest.LogCaptureFixture) -> None:
    url = tls_redis.url.replace(PASSWORD, "not-the-password") if wrong == "password" \
        else tls_redis.url.partition("?")[0]  # no CA given: the test CA is not trusted
    state = RedisState(url, prefix="t")
    with caplog.at_level(logging.INFO):
        await state.start()
        try:
            health = state.health()
            assert not health.connected
            assert f"127.0.0.1:{tls_redis.port}" in health.detail
            assert ("invalid username-password" if wrong == "password" else "certificate verify failed") \
                in health.detail  # the reason, as the user needs it
            assert await state.turn("m") == 1  # this instance's own counter meanwhile
        finally:
            await state.close()
    said = caplog.text + health.detail
    assert "lost Redis" in said
    assert PASSWORD not in said and "not-the-password" not in said
