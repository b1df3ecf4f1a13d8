"""An instance that joins a running deployment knows the conversations already bound.

Two real instances serve a conversation; a third starts afterwards and reads the bindings from
Redis in the background. Its first turn of that conversation goes to the account that holds the
conversation's prompt cache, though its own round robin would start elsewhere. The fake backend
tells which account served each turn by the token it saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
from openai import OpenAI

from tests.fakes.codex_backend import FakeCodex
from tests.fakes.redis_server import RedisServer
from tests.helpers import write_account
from tests.serve_process import wait_for
from tests.state.cluster import Instance, cluster, join, state_config
from tests.state.test_cluster import upstream

OPENING = [{"role": "system", "content": "You are terse."},
           {"role": "user", "content": "Plan the migration of the billing tables."}]


def turn(instance: Instance, messages: list[dict[str, Any]]) -> str:
    """One turn through the OpenAI SDK; returns the assistant's text."""
    client = OpenAI(base_url=instance.url + "/v1", api_key="unused", max_retries=0)
    answer = client.chat.completions.create(model="gpt-5.4", messages=messages)  # type: ignore[arg-type]
    return answer.choices[0].message.content or ""


def served_by(fake: FakeCodex) -> str:
    """The token the backend saw on the latest turn: which account served it."""
    return fake.inference_requests()[-1].headers["authorization"].removeprefix("Bearer ")


def sessions(tmp_path: Path, instance: Instance) -> int:
    """Sessions bound in ``instance``'s pool, as ``cliproxy status`` reads them (the instance that
    started last holds the local token in the shared auth dir)."""
    token = orjson.loads((tmp_path / "auth" / ".state" / "server.json").read_bytes())["token"]
    answer = httpx.get(instance.url + "/v0/local/status", headers={"x-cliproxy-local-token": token}, timeout=5)
    return int(answer.json()["sessions"]) if answer.status_code == 200 else 0


def test_an_instance_started_later_sends_a_bound_conversation_to_its_account(
        fake: FakeCodex, tmp_path: Path, redis_server: RedisServer) -> None:
    for name in "abc":
        write_account(tmp_path / "auth", name, f"tok-{name}", f"acct_{name}")
    config = state_config(redis_server.url)
    with cluster(tmp_path, upstream(fake), config, count=2) as nodes:
        turn(nodes[0], [{"role": "user", "content": "An unrelated question."}])
        reply = turn(nodes[0], OPENING)
        home = served_by(fake)
        assert home == "tok-b"  # round robin: the unrelated question took a
        with join(tmp_path, upstream(fake), config, "late") as late:
            wait_for(lambda: sessions(tmp_path, late) == 2, "the late instance to read the two bindings")
            turn(late, [*OPENING, {"role": "assistant", "content": reply}, {"role": "user", "content": "Go on."}])
            assert served_by(fake) == home
            turn(late, [{"role": "user", "content": "A new conversation."}])
            assert served_by(fake) == "tok-a"  # the late instance's own round robin starts at a
