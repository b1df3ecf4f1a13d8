"""Editing the ``ampcode`` section of config.yaml while the server runs: the next request follows it."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from cliproxy.server.app import build_app
from tests.fakes.amp import AmpReply, FakeAmp, anthropic_stream, running_amp
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import Proxy, write_account
from tests.serve_process import run_configured, wait_for, write_atomically

KEY = {"authorization": "Bearer k1"}
OPUS = "claude-opus-4-6"


def config(amp_section: str) -> str:
    return "api-keys: [k1]\n" + (f"ampcode:\n{amp_section}" if amp_section else "")


def rewrite(proxy: Proxy, tmp_path: Path, fake: FakeCodex, amp_section: str) -> None:
    path = tmp_path / "conf" / "config.yaml"
    head = path.read_text().split("api-keys:")[0]
    write_atomically(path, head + config(amp_section))


def opus(proxy: Proxy) -> httpx.Response:
    return httpx.post(proxy.url + "/api/provider/anthropic/v1/messages", headers={"x-api-key": "k1"},
                      json={"model": OPUS, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})


def test_upstream_keys_and_mappings_follow_the_file(tmp_path: Path, fake: FakeCodex, amp: FakeAmp) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with run_configured(tmp_path, fake.url + "/backend-api/codex", config("")) as proxy:  # type: ignore[attr-defined]
        assert httpx.get(proxy.url + "/api/user", headers=KEY).status_code == 503

        rewrite(proxy, tmp_path, fake, f"  upstream-url: {amp.url}\n  upstream-api-key: up-1\n")
        wait_for(lambda: httpx.get(proxy.url + "/api/user", headers=KEY).status_code == 200, "the upstream to apply")
        assert amp.seen[-1].headers["x-api-key"] == "up-1"

        rewrite(proxy, tmp_path, fake, f"  upstream-url: {amp.url}\n  upstream-api-key: up-2\n")
        wait_for(lambda: httpx.get(proxy.url + "/api/user", headers=KEY)
                 and amp.seen[-1].headers["x-api-key"] == "up-2", "the new Amp key to apply")

        mapped = f"  upstream-url: {amp.url}\n  model-mappings:\n    - {{from: {OPUS}, to: gpt-5.4}}\n"
        rewrite(proxy, tmp_path, fake, mapped)
        wait_for(lambda: "x-cliproxy-served-by" not in opus(proxy).headers, "the mapping to apply")
        assert fake.inference_requests()[-1].body["model"] == "gpt-5.4"

        rewrite(proxy, tmp_path, fake, mapped.replace("gpt-5.4", "gpt-5.5"))
        wait_for(lambda: opus(proxy) and fake.inference_requests()[-1].body["model"] == "gpt-5.5",
                 "the changed mapping to apply")

        path = tmp_path / "conf" / "config.yaml"
        path.write_text(path.read_text().split("api-keys:")[0] + "api-keys: [k1]\nampcode: [unclosed\n")
        assert opus(proxy).json()["model"] == OPUS and fake.inference_requests()[-1].body["model"] == "gpt-5.5"

        rewrite(proxy, tmp_path, fake, "  model-mappings: []\n")
        wait_for(lambda: httpx.get(proxy.url + "/api/user", headers=KEY).status_code == 503, "the upstream to go")
        assert opus(proxy).status_code == 404


def test_a_second_upstream_and_a_moved_client_key_apply_to_the_next_request(
        tmp_path: Path, fake: FakeCodex, amp: FakeAmp) -> None:
    keys = "  upstream-api-keys:\n    - {{upstream-api-key: u1, api-keys: [{u1}]}}\n" \
           "    - {{upstream-api-key: u2, api-keys: [{u2}]}}\n"
    with running_amp() as second, run_configured(tmp_path, fake.url + "/backend-api/codex",  # type: ignore[attr-defined]
                                                 config(f"  upstream-url: {amp.url}\n")) as proxy:
        assert httpx.get(proxy.url + "/api/user", headers=KEY).status_code == 200

        rewrite(proxy, tmp_path, fake, f"  upstream-url: {second.url}\n")
        wait_for(lambda: httpx.get(proxy.url + "/api/user", headers=KEY) and second.seen, "the second upstream")
        first_count, second_count = len(amp.seen), len(second.seen)
        for _ in range(3):
            httpx.get(proxy.url + "/api/user", headers=KEY)
        assert len(amp.seen) == first_count and len(second.seen) == second_count + 3

        rewrite(proxy, tmp_path, fake, f"  upstream-url: {second.url}\n" + keys.format(u1="k1", u2="k9"))
        wait_for(lambda: httpx.get(proxy.url + "/api/user", headers=KEY)
                 and second.seen[-1].headers.get("x-api-key") == "u1", "the per-client keys")
        rewrite(proxy, tmp_path, fake, f"  upstream-url: {second.url}\n" + keys.format(u1="k9", u2="k1"))
        wait_for(lambda: httpx.get(proxy.url + "/api/user", headers=KEY)
                 and second.seen[-1].headers.get("x-api-key") == "u2", "k1 moved to the second entry")
        assert second.seen[-1].headers["authorization"] == "Bearer u2"


def test_the_localhost_restriction_follows_the_file(tmp_path: Path, fake: FakeCodex, amp: FakeAmp) -> None:
    upstream = f"  upstream-url: {amp.url}\n"
    with run_configured(tmp_path, fake.url + "/backend-api/codex", config(upstream)) as proxy:  # type: ignore[attr-defined]
        app = build_app(proxy.services)  # the running server's services, reached from another machine's address

        async def from_elsewhere() -> int:
            transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                return (await client.get("/api/user", headers={**KEY, "x-forwarded-for": "127.0.0.1"})).status_code

        async def until(status: int) -> int:
            for _ in range(1000):
                if (seen := await from_elsewhere()) == status:
                    return seen
                await asyncio.sleep(0.02)
            return await from_elsewhere()

        async def scenario() -> list[int]:
            statuses = [await from_elsewhere()]
            rewrite(proxy, tmp_path, fake, upstream + "  restrict-management-to-localhost: true\n")
            statuses.append(await until(403))
            rewrite(proxy, tmp_path, fake, upstream + "  restrict-management-to-localhost: false\n")
            statuses.append(await until(200))
            await proxy.services.amp.aclose()  # its client belongs to this event loop
            return statuses

        assert asyncio.run(scenario()) == [200, 403, 200]
        assert httpx.get(proxy.url + "/api/user", headers=KEY).status_code == 200  # this machine, all along
    assert amp.paths()[0] == "/api/user" and len(amp.paths()) >= 3


def test_requests_in_flight_across_reloads_each_see_one_snapshot(tmp_path: Path, fake: FakeCodex,
                                                                 amp: FakeAmp) -> None:
    """Upstream URL and Amp key change together on every edit: a request that reached one fake with
    the other's key would have mixed two snapshots."""
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with running_amp() as second:
        fakes = (amp, second)
        for each in fakes:
            each.script(*[AmpReply(chunks=anthropic_stream(OPUS), pause=0.05,
                                   headers={"content-type": "text/event-stream"})] * 200)

        def section(i: int) -> str:
            return f"  upstream-url: {fakes[i % 2].url}\n  upstream-api-key: up-{i % 2}\n"

        with run_configured(tmp_path, fake.url + "/backend-api/codex",  # type: ignore[attr-defined]
                            config(section(0))) as proxy:
            done = threading.Event()

            def client() -> list[bytes]:
                answers: list[bytes] = []
                while not answers or (len(answers) < 8 and not done.is_set()):  # in flight across the edits
                    with httpx.stream("POST", proxy.url + "/api/provider/anthropic/v1/messages", timeout=60,
                                      headers={"x-api-key": "k1"}, json={"model": OPUS, "max_tokens": 10,
                                                                         "stream": True, "messages": []}) as answer:
                        answers.append(b"%d " % answer.status_code + answer.read())
                return answers

            with ThreadPoolExecutor(max_workers=50) as workers:
                running = [workers.submit(client) for _ in range(50)]
                for i in range(1, 11):
                    rewrite(proxy, tmp_path, fake, section(i))
                    key = f"up-{i % 2}"
                    wait_for(lambda: proxy.services.holder.current.config.ampcode.upstream_api_key == key,  # noqa: B023
                             f"edit {i} to apply")
                done.set()
                answers = [answer for future in running for answer in future.result()]
    assert len(answers) >= 50
    assert all(a.startswith(b"200 ") and a.endswith(b'data: {"type": "message_stop"}\n\n') for a in answers)
    for index, each in enumerate(fakes):
        assert each.seen and {s.headers["x-api-key"] for s in each.seen} == {f"up-{index}"}
