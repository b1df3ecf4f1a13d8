"""A client key's limit holds across three real instances on one Redis, and a Redis that goes away
leaves the key served by each instance on its own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai

from tests.fakes.codex_backend import FakeCodex
from tests.fakes.redis_server import RedisServer
from tests.helpers import write_account
from tests.serve_process import wait_for
from tests.state.cluster import PASSWORD, Instance, cluster, state_config

KEY = "sk-team-shared-across-instances-0123456789"
LIMITED = f"""client-keys:
  - name: team
    key: {KEY}
    limits:
      - {{requests: 10, per: minute}}
"""


def upstream(fake: FakeCodex) -> str:
    base: str = fake.url  # type: ignore[attr-defined]
    return base + "/backend-api/codex"


def ask(node: Instance) -> openai.RateLimitError | None:
    """One chat through the official SDK (no retries of its own): None when served, the 429 when refused."""
    client = openai.OpenAI(base_url=node.url + "/v1", api_key=KEY, max_retries=0, timeout=60)
    try:
        client.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "hi"}])
    except openai.RateLimitError as refused:
        return refused
    return None


def used(node: Instance) -> int:
    answer = httpx.get(node.url + "/v1/usage", headers={"authorization": f"Bearer {KEY}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    count: int = answer.json()["limits"][0]["used"]
    return count


def reset(node: Instance) -> httpx.Response:
    return httpx.post(node.url + "/v0/management/client-keys/team/reset", timeout=10,
                      headers={"authorization": f"Bearer {PASSWORD}"})


def test_ten_a_minute_across_three_instances_serves_exactly_ten(fake: FakeCodex, tmp_path: Path,
                                                                redis_server: RedisServer) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acct_a")
    with cluster(tmp_path, upstream(fake), state_config(redis_server.url, LIMITED)) as nodes, \
            ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda n: ask(nodes[n % 3]), range(30)))
        refused = [result for result in results if result is not None]
        assert len(refused) == 20
        for error in refused:
            assert error.status_code == 429 and error.code == "key_limit_reached"
            assert "'team' reached its limit of 10 requests per minute (rolling)" in error.message
            assert int(error.response.headers["retry-after"]) >= 1
        assert [used(node) for node in nodes] == [10, 10, 10]
        assert len(fake.inference_requests()) == 10  # a refused request reached no account
        assert reset(nodes[1]).status_code == 200  # management on one instance resets the shared count
        assert used(nodes[2]) == 0 and ask(nodes[2]) is None


def test_with_redis_stopped_the_key_is_still_served_by_each_instance(fake: FakeCodex, tmp_path: Path,
                                                                     redis_server: RedisServer) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acct_a")
    with cluster(tmp_path, upstream(fake), state_config(redis_server.url, LIMITED)) as nodes:
        assert ask(nodes[0]) is None
        redis_server.stop()
        assert [ask(node) for node in nodes for _ in range(2)] == [None] * 6
        wait_for(lambda: all(not node.health()["state"]["connected"] for node in nodes), "every instance to notice")
        assert used(nodes[0]) == 2 and used(nodes[1]) == 2  # each instance's own count meanwhile
        assert nodes[0].log().count("enforces the keys' limits on its own") == 1
        refused = reset(nodes[0])  # the shared count cannot be reset now, and the answer says so
        assert refused.status_code == 503 and "unreachable" in refused.text
