"""The reload path in-process: what counts as a change, what is refused, what waits for a restart."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cliproxy.auth.store import FileStore
from cliproxy.config.load import parse_config
from cliproxy.config.reload import Reloader
from cliproxy.config.snapshot import Snapshot, SnapshotHolder
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import write_account
from tests.serve_process import run_configured


def make_reloader(tmp_path: Path, config_text: str | None = None) -> tuple[Reloader, list[Snapshot]]:
    auth = tmp_path / "auth"
    auth.mkdir(exist_ok=True)
    config_path = None
    if config_text is not None:
        config_path = tmp_path / "config.yaml"
        config_path.write_text(config_text)
    config = parse_config({"auth-dir": str(auth), "models": {"discovery": False}})
    reloader = Reloader(SnapshotHolder(Snapshot.build(config)), config_path, environ={})
    swaps: list[Snapshot] = []
    reloader.on_swap.append(lambda old, new: swaps.append(new))
    return reloader, swaps


async def test_the_proxys_own_writes_do_not_reload_but_a_users_edit_does(tmp_path: Path) -> None:
    path = write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    reloader, swaps = make_reloader(tmp_path)
    assert await reloader.reload(config=False, accounts=None) is False  # primed: nothing new
    store = FileStore(tmp_path / "auth", on_write=reloader.note_own_write)

    record = json.loads(path.read_text())
    store.write(path.name, {**record, "access_token": "tok-a-refreshed"})
    assert await reloader.reload(config=False, accounts=[path.name]) is False
    assert swaps == []

    path.write_text(json.dumps({**record, "access_token": "tok-a-by-hand"}))
    assert await reloader.reload(config=False, accounts=[path.name]) is True
    assert [c.access_token for c in swaps[-1].credentials] == ["tok-a-by-hand"]


async def test_a_save_with_the_same_bytes_or_an_empty_file_changes_nothing(tmp_path: Path) -> None:
    path = write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    reloader, swaps = make_reloader(tmp_path)
    await reloader.reload(config=False, accounts=None)
    path.write_text(path.read_text())
    path.write_bytes(path.read_bytes())
    assert await reloader.reload(config=False, accounts=[path.name]) is False
    path.write_text("")  # a non-atomic writer caught mid-write
    assert await reloader.reload(config=False, accounts=[path.name]) is False
    assert swaps == [] and len(reloader.holder.current.credentials) == 1


async def test_added_and_removed_files_change_the_snapshot(tmp_path: Path) -> None:
    reloader, swaps = make_reloader(tmp_path)
    new = write_account(tmp_path / "auth", "b", "tok-b", "acc-2")
    assert await reloader.reload(config=False, accounts=[new.name]) is True
    assert [c.id for c in reloader.holder.current.credentials] == ["codex-b.json"]
    (tmp_path / "auth" / "notes.json").write_text('{"type": "gemini"}')  # another provider's file
    assert await reloader.reload(config=False, accounts=["notes.json"]) is False
    new.unlink()
    assert await reloader.reload(config=False, accounts=[new.name]) is True
    assert reloader.holder.current.credentials == () and len(swaps) == 2


async def test_a_broken_config_keeps_the_old_snapshot_and_logs_the_line(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    reloader, _ = make_reloader(tmp_path, "api-keys: [k1]\n")
    await reloader.reload(config=True, force=True)
    assert reloader.holder.current.config.api_keys == ("k1",)
    assert reloader.config_path is not None
    reloader.config_path.write_text("api-keys: [k2\nport: 1\n")
    with caplog.at_level(logging.ERROR):
        assert await reloader.reload(config=True) is False
    assert reloader.holder.current.config.api_keys == ("k1",)
    assert "keeping the previous settings" in caplog.text and "line" in caplog.text
    reloader.config_path.write_text("api-keys: [k1]\nrequest-retry: -1\n")
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert await reloader.reload(config=True) is False
    assert "request-retry" in caplog.text


async def test_restart_only_settings_keep_their_running_values(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    reloader, _ = make_reloader(tmp_path, "port: 8317\n")
    await reloader.reload(config=True, force=True)
    assert reloader.config_path is not None
    reloader.config_path.write_text("port: 9999\nhost: 0.0.0.0\nrequest-retry: 2\n")
    with caplog.at_level(logging.WARNING):
        assert await reloader.reload(config=True) is True
    config = reloader.holder.current.config
    assert (config.port, config.host, config.request_retry) == (8317, "127.0.0.1", 2)
    assert "`port` changed; restart" in caplog.text and "`host` changed; restart" in caplog.text


async def test_a_plaintext_management_secret_is_hashed_in_place_with_comments_kept(tmp_path: Path) -> None:
    text = ("# cliproxy settings\nremote-management:\n  # the panel password\n  secret-key: \"s3cret-pass\"\n"
            "api-keys:\n  - k1  # laptop\n")
    reloader, _ = make_reloader(tmp_path, text)
    await reloader.reload(config=True, force=True)
    assert reloader.config_path is not None
    saved = reloader.config_path.read_text()
    assert "s3cret-pass" not in saved and "$2b$" in saved
    assert "# cliproxy settings" in saved and "# the panel password" in saved and "- k1  # laptop" in saved
    assert reloader.holder.current.config.remote_management.secret_key.startswith("$2b$")
    # Our own write-back is recognised: reading the file again is not a change.
    assert await reloader.reload(config=True) is False


def test_the_refreshers_writes_are_announced_to_the_reloader(tmp_path: Path, fake: FakeCodex) -> None:
    """Wiring: the store the refresher writes through tells the reloader before the watcher can."""
    path = write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with run_configured(tmp_path, fake.url) as proxy:  # type: ignore[attr-defined]
        reloader = proxy.services.ops.reloader
        assert reloader is not None
        record = json.loads(path.read_text())
        proxy.services.refresher.store.write(path.name, {**record, "access_token": "tok-a-refreshed"})
        cached = reloader.accounts.credentials(proxy.services.holder.current.config)
        assert [c.access_token for c in cached] == ["tok-a-refreshed"]
