"""Round robin across instances: how evenly three instances spread requests over three accounts.

Three instances behind a round-robin balancer (instance 1, 2, 3, 1, …), three accounts, affinity
off; the fake backend tells which account served each request by the token it saw. Over many
requests each instance's own turns already give every account its share; what the shared position
changes is which accounts serve *at the same moment*: without it the three instances walk the
accounts in step, and three requests at once, one per instance, all land on one account. The
figures are printed (run with ``-s``); docs/scaling.md quotes them.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from tests.fakes.codex_backend import FakeCodex
from tests.fakes.redis_server import RedisServer
from tests.helpers import write_account
from tests.serve_process import wait_for
from tests.state.cluster import Instance, cluster, state_config
from tests.state.test_cluster import upstream

NO_AFFINITY = "routing:\n  session-affinity: false\n"


def three_accounts(tmp_path: Path) -> None:
    for name in "abc":
        write_account(tmp_path / "auth", name, f"tok-{name}", f"acct_{name}")


def tokens(fake: FakeCodex, since: int = 0) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in fake.inference_requests()[since:]]


def counted(server: RedisServer) -> int:
    """Picks counted in the shared round-robin position (every model's)."""
    client = server.client()
    return sum(int(client.get(key) or 0) for key in client.scan_iter(match="test:turn:*"))


def test_three_hundred_requests_give_each_account_its_share(fake: FakeCodex, tmp_path: Path,
                                                            redis_server: RedisServer) -> None:
    three_accounts(tmp_path)
    with cluster(tmp_path, upstream(fake), state_config(redis_server.url, NO_AFFINITY)) as nodes:
        for n in range(300):
            assert nodes[n % 3].chat().status_code == 200
    counts = Counter(tokens(fake))
    print(f"\n300 requests, one at a time over 3 instances: {dict(sorted(counts.items()))}")
    assert max(counts.values()) - min(counts.values()) <= 3


def all_counted(server: RedisServer, picks: int) -> bool:
    return counted(server) == picks


def burst(nodes: list[Instance], pool: ThreadPoolExecutor) -> None:
    assert list(pool.map(lambda node: node.chat().status_code, nodes)) == [200] * 3


def test_three_requests_at_once_one_per_instance_go_to_three_accounts(fake: FakeCodex, tmp_path: Path,
                                                                       redis_server: RedisServer) -> None:
    three_accounts(tmp_path)
    spread: Counter[int] = Counter()
    with cluster(tmp_path, upstream(fake), state_config(redis_server.url, NO_AFFINITY)) as nodes, \
            ThreadPoolExecutor(3) as pool:
        burst(nodes, pool)  # the first: no instance has counted a pick yet
        for n in range(1, 100):
            wait_for(partial(all_counted, redis_server, 3 * n), "the last burst's picks to be counted")
            before = len(fake.inference_requests())
            burst(nodes, pool)
            spread[len(set(tokens(fake, before)))] += 1
    print(f"\n99 bursts of 3 requests at once, one per instance: accounts per burst {dict(spread)}; "
          f"over all: {dict(sorted(Counter(tokens(fake)).items()))}")
    assert spread[3] >= 95  # without the shared position every burst lands on one account
