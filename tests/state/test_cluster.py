"""Three real instances on one Redis and one fake Codex backend: one pool, whichever instance serves.

The figures these tests measure (how soon a rest reaches the other instances) are printed; run with
``-s`` to see them. docs/scaling.md quotes them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.fakes.codex_backend import FakeCodex, Reply
from tests.fakes.issuer import running_issuer
from tests.fakes.redis_server import RedisServer
from tests.helpers import write_account
from tests.serve_process import wait_for
from tests.state.cluster import Instance, cluster, state_config

UNAUTHORIZED = Reply(status=401, body={"error": {"message": "Your authentication token has expired.",
                                                 "type": "invalid_request_error", "code": "token_expired"}})
LIMIT = Reply(status=429, body={"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                                          "plan_type": "plus", "resets_in_seconds": 3600}})


def upstream(fake: FakeCodex) -> str:
    base: str = fake.url  # type: ignore[attr-defined]
    return base + "/backend-api/codex"


def two_accounts(tmp_path: Path) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acct_a")
    write_account(tmp_path / "auth", "b", "tok-b", "acct_b")


def tried(fake: FakeCodex, token: str) -> int:
    return sum(1 for r in fake.inference_requests() if r.headers.get("authorization") == f"Bearer {token}")


def resting(instance: Instance, name: str) -> bool:
    return bool(instance.accounts()[name]["pool_state"] != "available")


def seen_resting_at(instance: Instance, name: str, deadline: float = 20.0) -> float:
    """``time.monotonic()`` when ``instance`` first shows ``name`` resting (polled as fast as it answers)."""
    end = time.monotonic() + deadline
    while not resting(instance, name):
        assert time.monotonic() < end, f"{instance.url} never saw {name} resting:\n{instance.log()}"
    return time.monotonic()


FILL_FIRST = "routing:\n  strategy: fill-first\n"


def first_notice(server: RedisServer) -> float:
    """``time.monotonic()`` when the first change notice of the deployment reaches a Redis subscriber."""
    pubsub = server.client().pubsub()
    pubsub.subscribe("test:notices")
    end = time.monotonic() + 30
    while time.monotonic() < end:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is not None and b'"kind":"account"' in message["data"]:
            return time.monotonic()
    raise AssertionError("no account notice on Redis")


def test_a_429_on_one_instance_rests_the_account_on_all_three(fake: FakeCodex, tmp_path: Path,
                                                              redis_server: RedisServer) -> None:
    two_accounts(tmp_path)
    fake.script("tok-a", *[LIMIT] * 10)
    with cluster(tmp_path, upstream(fake), state_config(redis_server.url, FILL_FIRST)) as nodes, \
            ThreadPoolExecutor(3) as pool:
        notice = pool.submit(first_notice, redis_server)
        assert nodes[0].chat().status_code == 200  # a's 429, then b serves
        hit = next(r.at for r in fake.inference_requests() if r.headers["authorization"] == "Bearer tok-a")
        seen = list(pool.map(lambda node: seen_resting_at(node, "codex-a.json"), nodes[1:]))
        print(f"\n429 at the fake → notice on Redis after {(notice.result() - hit) * 1000:.1f} ms; account shown "
              f"resting by the other instances' management API after "
              f"{', '.join(f'{(at - hit) * 1000:.1f} ms' for at in seen)} (includes the poll)")
        assert all(node.chat().status_code == 200 for node in nodes[1:])
    assert tried(fake, "tok-a") == 1  # neither other instance tried the resting account


def test_thirty_concurrent_401s_across_three_instances_refresh_once(fake: FakeCodex, tmp_path: Path,
                                                                    redis_server: RedisServer) -> None:
    with running_issuer() as issuer:
        tokens = issuer.tokens()
        write_account(tmp_path / "auth", "r", tokens["access_token"], "acct_1", refresh_token=tokens["refresh_token"],
                      id_token=tokens["id_token"])
        fake.script(tokens["access_token"], *[UNAUTHORIZED] * 60)
        issuer.refresh_delay = 0.3  # the others arrive while the first refresh is in flight
        with cluster(tmp_path, upstream(fake), state_config(redis_server.url),
                     CLIPROXY_OAUTH_ISSUER=issuer.url) as nodes:
            gate = threading.Barrier(30)

            def one(n: int) -> int:
                gate.wait()
                return nodes[n % 3].chat().status_code

            with ThreadPoolExecutor(30) as pool:
                statuses = list(pool.map(one, range(30)))
        assert statuses == [200] * 30
        assert len(issuer.refresh_calls) == 1
    stored = json.loads((tmp_path / "auth" / "codex-r.json").read_text())
    assert stored["refresh_token"] != tokens["refresh_token"]


def usage_totals(instance: Instance) -> int:
    done = subprocess.run([sys.executable, "-m", "cliproxy", "usage", "--config", str(instance.config), "--json"],
                          capture_output=True, text=True, check=True)
    requests: int = json.loads(done.stdout)["totals"]["requests"]
    return requests


def test_usage_from_every_instance_shows_in_one_cliproxy_usage(fake: FakeCodex, tmp_path: Path,
                                                                redis_server: RedisServer) -> None:
    two_accounts(tmp_path)
    with cluster(tmp_path, upstream(fake), state_config(redis_server.url)) as nodes:
        for node in nodes:
            assert node.chat().status_code == 200
            assert node.chat().status_code == 200
        wait_for(lambda: usage_totals(nodes[0]) == 6, "the other instances' usage in the first one's history")
        wait_for(lambda: usage_totals(nodes[2]) == 6, "every instance's usage in the last one's history")
    assert usage_totals(nodes[1]) == 6  # after a clean stop, no record twice


def _load(nodes: list[Instance], count: int, started: threading.Event) -> list[int]:
    def one(n: int) -> int:
        if n == count // 3:
            started.set()
        return nodes[n % 3].chat().status_code

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(one, range(count)))


def test_redis_killed_mid_load_fails_no_request_and_reconciles_when_back(fake: FakeCodex, tmp_path: Path,
                                                                          redis_server: RedisServer) -> None:
    two_accounts(tmp_path)
    fake.default = Reply(delay=0.01)
    with cluster(tmp_path, upstream(fake), state_config(redis_server.url, FILL_FIRST)) as nodes:
        started = threading.Event()
        with ThreadPoolExecutor(1) as runner:
            load = runner.submit(_load, nodes, 90, started)
            started.wait(60)
            redis_server.stop()
            statuses = load.result()
        assert statuses == [200] * 90
        wait_for(lambda: all(not node.health()["state"]["connected"] for node in nodes), "every instance to notice")
        fake.script("tok-a", *[LIMIT] * 10)
        assert nodes[0].chat().status_code == 200  # a rests on the first instance only: the others cannot hear
        assert not resting(nodes[1], "codex-a.json")
        redis_server.start()
        wait_for(lambda: all(node.health()["state"]["connected"] for node in nodes), "every instance to reconnect")
        wait_for(lambda: all(resting(node, "codex-a.json") for node in nodes[1:]), "the rest to reach the others")
        assert "lost Redis" in nodes[0].log() and "is back" in nodes[0].log()


def test_status_shows_the_backend_and_the_live_instances(fake: FakeCodex, tmp_path: Path,
                                                         redis_server: RedisServer) -> None:
    two_accounts(tmp_path)
    with cluster(tmp_path, upstream(fake), state_config(redis_server.url)) as nodes:
        def status(node: Instance) -> str:
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_")},
                   "CLIPROXY_AUTH_DIR": str(tmp_path / "auth"), "HOME": str(tmp_path / "home")}
            return subprocess.run([sys.executable, "-m", "cliproxy", "status", "--config", str(node.config),
                                   "--url", node.url], capture_output=True, text=True, env=env).stdout

        def three() -> str | None:
            # the instances share one auth dir, so only the one that started last holds the local token
            return next((text for text in map(status, nodes) if "3 live instance" in text), None)

        text = wait_for(three, "status to count three live instances")
    assert "state: redis (connected)" in text
