"""Hot reload against a real ``cliproxy serve`` process: edits to config.yaml and the auth dir take
effect on the next requests, a broken edit is refused while the old settings keep serving, and a
stream running across a reload completes intact. Tests poll with generous deadlines; the measured
save → serving latency is printed (run with ``-s``) for the closing note."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import write_account
from tests.serve_process import Server, serve, wait_for, write_atomically

BASE = "models:\n  discovery: false\n"


def upstream(fake: FakeCodex) -> str:
    return fake.url + "/backend-api/codex"  # type: ignore[attr-defined,no-any-return]


def status(server: Server, key: str | None) -> int:
    return server.chat(key).status_code


def last_token(fake: FakeCodex) -> str:
    return fake.inference_requests()[-1].headers["authorization"][7:]


def test_config_edits_apply_live_and_broken_edits_are_refused(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    config = f"# my proxy\n{BASE}api-keys:\n  - old-key  # the laptop\n"
    with serve(tmp_path, upstream(fake), config) as server:
        assert status(server, "old-key") == 200 and status(server, "new-key") == 401

        # Given an in-place save that swaps the key, then the new key serves soon and the old one stops.
        saved = time.monotonic()
        server.config.write_text(config.replace("old-key", "new-key"))
        wait_for(lambda: status(server, "new-key") == 200, "the new key to be accepted")
        in_place = time.monotonic() - saved
        assert status(server, "old-key") == 401

        # An editor's atomic save (temp file renamed over the config) is seen too.
        saved = time.monotonic()
        write_atomically(server.config, config.replace("old-key", "third-key"))
        wait_for(lambda: status(server, "third-key") == 200, "the renamed-in config to apply")
        renamed = time.monotonic() - saved
        print(f"\nreload latency, save -> serving: in-place {in_place * 1000:.0f} ms, "
              f"atomic rename {renamed * 1000:.0f} ms")

        # A broken edit: the old config keeps serving and the log names the line.
        server.config.write_text(f"{BASE}api-keys: [unclosed\n  - x\n")
        wait_for(lambda: "config reload failed" in server.log(), "the broken edit to be reported")
        line = next(x for x in server.log().splitlines() if "config reload failed" in x)
        assert "keeping the previous settings" in line and "line" in server.log().split("config reload failed")[1]
        assert status(server, "third-key") == 200

        # A setting that needs a restart is reported as such; the rest of the edit still applies.
        server.config.write_text(f"{BASE}port: 1\napi-keys: [fourth-key]\n")
        wait_for(lambda: status(server, "fourth-key") == 200, "the edit beside the port change to apply")
        assert "`port` changed; restart cliproxy to apply it" in server.log()
        assert httpx.get(server.url + "/healthz").status_code == 200

        # SIGHUP forces a reload.
        server.signal(signal.SIGHUP)
        wait_for(lambda: "SIGHUP: reloading" in server.log(), "the SIGHUP reload")
        assert server.process.poll() is None


def test_account_files_added_and_removed_are_routed_or_not(tmp_path: Path, fake: FakeCodex) -> None:
    with serve(tmp_path, upstream(fake), BASE) as server:
        assert status(server, None) == 503  # no account yet

        write_account(server.auth_dir, "a", "tok-a", "acc-1")
        wait_for(lambda: status(server, None) == 200, "the new account to serve")
        assert last_token(fake) == "tok-a"

        # A second account arrives by atomic rename, the first is removed: traffic moves to the second.
        record = write_account(tmp_path / "staging", "b", "tok-b", "acc-2").read_text()
        write_atomically(server.auth_dir / "codex-b.json", record)
        (server.auth_dir / "codex-a.json").unlink()

        def only_b() -> bool:
            return status(server, None) == 200 and last_token(fake) == "tok-b"

        wait_for(only_b, "requests to move to account b")
        for _ in range(3):
            assert status(server, None) == 200 and last_token(fake) == "tok-b"

        (server.auth_dir / "codex-b.json").unlink()
        wait_for(lambda: status(server, None) == 503, "the removed account to stop serving")


def test_a_stream_running_across_a_reload_completes_intact(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    parts = [f"part{i} " for i in range(12)]
    fake.script("tok-a", Reply(events=ev.text_stream(parts), delay=0.1))
    with serve(tmp_path, upstream(fake), f"{BASE}api-keys: [k1]\n") as server:
        received: list[str] = []
        done = threading.Event()

        def consume() -> None:
            body = {"model": "gpt-5.4", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
            with httpx.stream("POST", server.url + "/v1/chat/completions", json=body,
                              headers={"authorization": "Bearer k1"}, timeout=30) as response:
                received.extend(response.iter_lines())
            done.set()

        thread = threading.Thread(target=consume)
        thread.start()
        wait_for(lambda: any("part1" in line for line in received), "the stream to start")
        # Mid-stream: the account file is removed and the client keys change.
        (server.auth_dir / "codex-a.json").unlink()
        server.config.write_text(f"{BASE}api-keys: [k2]\n")
        wait_for(lambda: status(server, "k2") == 503, "the reload to apply")
        assert done.wait(30)
        thread.join()
    text = "".join(line for line in received if line.startswith("data: {"))
    assert all(part.strip() in text for part in parts)
    assert received[-1] == "data: [DONE]" or "data: [DONE]" in received
    assert not any('"error"' in line for line in received)

