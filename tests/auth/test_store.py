"""The file store: permissions, atomic replacement (even under kill -9), locking, tolerant loading."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import orjson
import pytest

from cliproxy.auth.credentials import load_account_files
from cliproxy.auth.store import FileStore, StoreError

RECORD = {"type": "codex", "email": "u@example.com", "refresh_token": "rt_1", "priority": 1}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_new_dir_is_0700_and_files_0600_even_on_rewrite(store: FileStore, accounts_dir: Path) -> None:
    store.write("codex-a.json", RECORD)
    assert mode(accounts_dir) == 0o700 and mode(accounts_dir / "codex-a.json") == 0o600
    (accounts_dir / "codex-a.json").chmod(0o644)
    store.write("codex-a.json", {**RECORD, "priority": 2})
    assert mode(accounts_dir / "codex-a.json") == 0o600


def test_written_file_is_sorted_compact_json_and_type_is_forced(store: FileStore, accounts_dir: Path) -> None:
    store.write("codex-a.json", {"z": 1, "type": "other", "a": 2})
    assert (accounts_dir / "codex-a.json").read_bytes() == b'{"a":2,"type":"codex","z":1}\n'
    assert [p.name for p in accounts_dir.iterdir() if p.is_file()] == ["codex-a.json"]  # no temp left over


@pytest.mark.parametrize("name", ["../x.json", ".hidden.json", "a/b.json", "x.txt"])
def test_names_outside_the_dir_are_refused(store: FileStore, name: str) -> None:
    with pytest.raises(StoreError):
        store.write(name, RECORD)


def test_loading_skips_everything_but_top_level_codex_files(accounts_dir: Path, store: FileStore) -> None:
    store.write("codex-good.json", RECORD)
    (accounts_dir / "empty.json").write_text("")
    (accounts_dir / "broken.json").write_text("{not json")
    (accounts_dir / "claude.json").write_text(json.dumps({"type": "claude", "email": "c@x"}))
    (accounts_dir / "sub").mkdir()
    (accounts_dir / "sub" / "codex-nested.json").write_text(json.dumps(RECORD))
    (accounts_dir / "dir.json").mkdir()
    loaded = load_account_files(accounts_dir, "http://backend")
    assert [c.id for c in loaded] == ["codex-good.json"]
    assert loaded[0].refresh_token == "rt_1" and "rt_1" not in repr(loaded[0])


def test_a_reader_never_sees_a_partial_file(store: FileStore, accounts_dir: Path) -> None:
    # a watcher reading in a loop always gets a whole record
    big = {**RECORD, "padding": "x" * 200_000}
    store.write("codex-a.json", big)
    seen: list[int] = []
    bad: list[bytes] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            raw = (accounts_dir / "codex-a.json").read_bytes()
            try:
                seen.append(orjson.loads(raw)["priority"])
            except orjson.JSONDecodeError:
                bad.append(raw[:50])

    watcher = threading.Thread(target=watch)
    watcher.start()
    for priority in range(40):
        store.write("codex-a.json", {**big, "priority": priority})
    done.set()
    watcher.join()
    assert not bad and seen


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from cliproxy.auth.store import FileStore
    store = FileStore(Path(sys.argv[1]))
    records = [{"type": "codex", "generation": g, "padding": str(g) * 400_000} for g in (1, 2)]
    store.write("codex-a.json", records[0])
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        store.write("codex-a.json", records[i % 2])
""")


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_kill_9_during_writes_leaves_the_old_or_the_new_file(accounts_dir: Path) -> None:
    for delay in (0.01, 0.037, 0.07, 0.12):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(accounts_dir)], stdout=subprocess.PIPE)
        assert writer.stdout is not None and writer.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        record = orjson.loads((accounts_dir / "codex-a.json").read_bytes())
        assert record["generation"] in (1, 2)
        assert record["padding"] == str(record["generation"]) * 400_000
        writer.stdout.close()


def test_the_account_lock_excludes_other_processes(store: FileStore, accounts_dir: Path) -> None:
    store.write("codex-a.json", RECORD)
    holder = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from cliproxy.auth.store import FileStore
        with FileStore(Path({str(accounts_dir)!r})).lock("codex-a.json"):
            print("locked", flush=True)
            time.sleep(0.8)
    """)
    other = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE)
    assert other.stdout is not None and other.stdout.readline().strip() == b"locked"
    started = time.monotonic()
    with store.lock("codex-a.json"):
        waited = time.monotonic() - started
    other.wait()
    other.stdout.close()
    assert waited > 0.3
