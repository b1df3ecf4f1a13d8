"""Two real instances that share no auth dir, with their accounts in Redis (``state.accounts: redis``)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from cliproxy.auth.redis_store import RedisAccountStore, new_key
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.fakes.issuer import running_issuer
from tests.fakes.redis_server import RedisServer
from tests.helpers import write_account
from tests.serve_process import wait_for
from tests.state.cluster import PASSWORD, cluster
from tests.state.test_cluster import UNAUTHORIZED, tried, upstream

KEY = new_key()


def accounts_in_redis(server: RedisServer) -> str:
    return (f"state:\n  backend: redis\n  url: {server.url}\n  prefix: test\n  accounts: redis\n"
            "models:\n  discovery: false\n")


def test_two_instances_without_a_shared_auth_dir_serve_one_account_and_refresh_it_once(
        fake: FakeCodex, tmp_path: Path, redis_server: RedisServer) -> None:
    with running_issuer() as issuer:
        tokens = issuer.tokens()
        seed = write_account(tmp_path / "seed", "r", tokens["access_token"], "acct_1",
                             refresh_token=tokens["refresh_token"], id_token=tokens["id_token"])
        store = RedisAccountStore(redis_server.url, KEY, prefix="test")
        store.write(seed.name, json.loads(seed.read_text()))
        # the old token serves once, then is refused for good
        fake.script(tokens["access_token"], Reply(), *[UNAUTHORIZED] * 20)
        with cluster(tmp_path, upstream(fake), accounts_in_redis(redis_server), count=2, own_auth_dirs=True,
                     CLIPROXY_OAUTH_ISSUER=issuer.url, CLIPROXY_ACCOUNTS_KEY=KEY) as (one, other):
            assert other.chat().status_code == 200  # loaded from Redis: its auth dir is empty
            assert one.chat().status_code == 200  # 401, one refresh, served with the new token
            assert len(issuer.refresh_calls) == 1
            fresh = (store.read(seed.name) or {})["access_token"]
            assert fresh != tokens["access_token"]
            wait_for(lambda: "an account changed elsewhere" in other.log(), "the other instance to read it")
            assert other.chat().status_code == 200
            assert len(issuer.refresh_calls) == 1
        assert tried(fake, tokens["access_token"]) == 2  # the first request, and the 401
        assert tried(fake, fresh) == 2  # the retry after the refresh, and the other instance's request
    for node in ("node0", "node1"):
        assert not list((tmp_path / node / "auth").glob("*.json"))


def test_with_redis_away_requests_are_served_from_memory_and_account_management_answers_503(
        fake: FakeCodex, tmp_path: Path, redis_server: RedisServer) -> None:
    seed = write_account(tmp_path / "seed", "r", "tok-r", "acct_1")
    RedisAccountStore(redis_server.url, KEY, prefix="test").write(seed.name, json.loads(seed.read_text()))
    with cluster(tmp_path, upstream(fake), accounts_in_redis(redis_server), count=1, own_auth_dirs=True,
                 CLIPROXY_ACCOUNTS_KEY=KEY) as (only,):
        assert only.chat().status_code == 200
        redis_server.stop()
        assert only.chat().status_code == 200  # the pool serves from memory
        listing = httpx.get(only.url + "/v0/management/auth-files", headers={"authorization": f"Bearer {PASSWORD}"},
                            timeout=30)
        assert listing.status_code == 503, listing.text
        assert "account store cannot be reached" in listing.text and "tok-r" not in listing.text
