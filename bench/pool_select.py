"""``python -m bench.pool_select``: what choosing an account costs per request, and per account in memory.

For 10 and 1,000 accounts and each strategy it measures, on a warm pool:

- ``pick``: ``Pool.pick`` alone (the index lookup, round-robin cursor, priority groups);
- ``request``: what the request path adds per request: pick with a session id (affinity), the
  quota headers of the answer (``observe_headers``) and the outcome (``record``);
- ``churn``: a request whose account fails with a 429 and cools down, so the index is updated
  on every call (the worst case: a state change per request).

Memory per account is measured with tracemalloc: a pool of N accounts with a quota window each,
a selector over them and one affinity entry per account, minus an empty pool, divided by N.
Credentials themselves are not counted (they exist without the pool).
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable

from cliproxy.credential import Credential
from cliproxy.errors import Outcome, ProxyError
from cliproxy.pool.core import Pool

MODEL = "gpt-5.4"
HEADERS = {"x-codex-primary-used-percent": "12.5", "x-codex-primary-window-minutes": "300",
           "x-codex-primary-reset-at": "4102444800", "x-codex-secondary-used-percent": "40",
           "x-codex-secondary-window-minutes": "10080", "x-codex-secondary-reset-at": "4102444800",
           "x-codex-plan-type": "plus", "content-type": "text/event-stream"}
LIMITED = ProxyError(429, "rate limited", outcome=Outcome.RATE_LIMITED, retry_after=0.001)


def accounts(count: int) -> tuple[Credential, ...]:
    return tuple(Credential(id=f"codex-{n:05d}.json", kind="oauth", access_token=f"tok-{n}",
                            base_url="http://upstream", email=f"user{n}@example.com", plan="plus",
                            priority=n % 2) for n in range(count))


def _time(run: Callable[[int], None], rounds: int) -> float:
    """Best of three runs, microseconds per call."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        run(rounds)
        best = min(best, time.perf_counter() - started)
    return best / rounds * 1e6


def measure(count: int, strategy: str, rounds: int) -> dict[str, float]:
    creds = accounts(count)
    pool = Pool(creds, strategy)
    key = ("bench", MODEL)
    pool.pick(creds, model=MODEL, key=key)

    def pick(n: int) -> None:
        for _ in range(n):
            pool.pick(creds, model=MODEL, key=key)

    def request(n: int) -> None:
        for i in range(n):
            credential = pool.pick(creds, model=MODEL, key=key, session=f"s{i % 500}")
            pool.observe_headers(credential, HEADERS)
            pool.record(credential, MODEL, None)

    def churn(n: int) -> None:
        for _ in range(n):
            credential = pool.pick(creds, model=MODEL, key=key)
            pool.record(credential, MODEL, LIMITED)
            pool.record(credential, MODEL, None)

    return {"pick": _time(pick, rounds), "request": _time(request, rounds), "churn": _time(churn, rounds)}


def memory_per_account(count: int) -> float:
    """Bytes the pool holds per account (state, quota window, index entries, one affinity binding)."""
    creds = accounts(count)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    pool = Pool(creds, "round-robin")
    for n, credential in enumerate(creds):
        pool.observe_headers(credential, HEADERS)
        pool.pick(creds, model=MODEL, key=("bench", MODEL), session=f"session-{n}")
        pool.record(credential, MODEL, None)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del pool
    return used / count


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pool_select", description=__doc__)
    parser.add_argument("--rounds", type=int, default=20000, help="calls per timing run")
    args = parser.parse_args()
    print("| accounts | strategy | pick µs | request µs | churn µs |")
    print("|---:|---|---:|---:|---:|")
    for count in (10, 1000):
        for strategy in ("round-robin", "fill-first", "headroom"):
            figures = measure(count, strategy, args.rounds)
            print(f"| {count} | {strategy} | {figures['pick']:.2f} | {figures['request']:.2f} | "
                  f"{figures['churn']:.2f} |")
    print()
    for count in (10, 1000):
        print(f"memory per account ({count} accounts): {memory_per_account(count) / 1024:.2f} KiB")


if __name__ == "__main__":
    main()
