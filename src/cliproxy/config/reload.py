"""Hot reload: watch config.yaml and the auth dir, rebuild the snapshot, swap one reference.

A change is read whole, compared by content hash, validated, and only then swapped in, so a request
keeps the snapshot it started with and a broken edit never replaces a working one. Three things are
not user changes and never trigger a rebuild: a save that did not change the bytes, the proxy's own
writes to account files (refreshed tokens, ``auth_error`` markers — announced through
``note_own_write`` with their digest before the watcher sees them), and our own config writes
(management API, hashed secret), which are applied directly and then recognised by digest.

Settings the running server cannot change (bind address, port, TLS, auth dir) are logged as needing
a restart and keep their old values; the rest of the edit applies. A change that would leave a
public bind without ``api-keys`` is refused whole, whichever way it comes: the keys stay in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cliproxy.auth.credentials import credential_from_api_key, credential_from_record
from cliproxy.auth.store import parse_record
from cliproxy.config import edit as config_edit
from cliproxy.config.catalogue import ModelInfo
from cliproxy.config.exposure import check_exposure, open_to_the_network, refusal
from cliproxy.config.load import apply_env, checked_mapping, parse_config, parse_yaml, require_accounts_key
from cliproxy.config.schema import Config, ConfigError, updated
from cliproxy.config.snapshot import Snapshot, SnapshotHolder
from cliproxy.config.stored_accounts import StoredAccounts
from cliproxy.credential import Credential

log = logging.getLogger(__name__)

DEBOUNCE_MS = 150  # quiet time after the last event before a batch is read (CPA waits 150 ms)
MAX_BATCH_MS = 1000
# Config fields a running server cannot apply, with the key the user wrote.
RESTART_ONLY = {"host": "host", "port": "port", "tls": "tls", "auth_dir": "auth-dir"}

OnSwap = Callable[[Snapshot, Snapshot], None]
LiveModels = Callable[[], Mapping[str, Sequence[ModelInfo]]]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_config_text(text: str, source: str, environ: Mapping[str, str]) -> tuple[Config, list[str]]:
    """What ``load_config`` does, from text already read (so the digest and the parse agree)."""
    raw, warnings = checked_mapping(parse_yaml(text, source))
    return require_accounts_key(apply_env(parse_config(raw, source), environ)), warnings


class AccountFiles:
    """The auth dir as last read: content digest and record per ``*.json`` file."""

    def __init__(self, auth_dir: Path) -> None:
        self.auth_dir = auth_dir
        self._files: dict[str, tuple[str, dict[str, Any]]] = {}

    def names_on_disk(self) -> list[str]:
        if not self.auth_dir.is_dir():
            return []
        return sorted(p.name for p in self.auth_dir.glob("*.json") if wanted_account_name(p.name))

    def known(self) -> list[str]:
        return sorted(self._files)

    def refresh(self, names: Iterable[str]) -> bool:
        """Re-read these files; True when any account was added, changed or removed."""
        changed = False
        for name in names:
            changed |= self._refresh_one(name)
        return changed

    def _refresh_one(self, name: str) -> bool:
        try:
            data = (self.auth_dir / name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return self._files.pop(name, None) is not None
        except OSError as exc:
            log.warning("auth dir: cannot read %s (%s); keeping what was loaded", name, exc.strerror)
            return False
        if not data.strip():
            return False  # caught mid-write by a non-atomic writer: wait for the next event
        known = self._files.get(name)
        content = digest(data)
        if known is not None and known[0] == content:
            return False
        record = parse_record(data)
        if record is None:
            if known is not None:
                log.warning("auth dir: %s is no longer a codex account file; removing it", name)
            return self._files.pop(name, None) is not None
        self._files[name] = (content, record)
        return True

    def note_own_write(self, path: Path, content: str) -> None:
        """The proxy wrote ``path``: cache it now, so its change event is recognised as ours."""
        if path.parent != self.auth_dir or not wanted_account_name(path.name):
            return
        try:
            data = path.read_bytes()
        except OSError:
            return
        record = parse_record(data)
        if record is not None and digest(data) == content:
            self._files[path.name] = (content, record)

    def credentials(self, config: Config) -> list[Credential]:
        """Account credentials in id order, then ``codex-api-key`` entries (as ``load_credentials``)."""
        creds = [credential_from_record(record, name, config.codex_base_url, self.auth_dir / name)
                 for name, (_digest, record) in sorted(self._files.items())]
        creds.extend(credential_from_api_key(entry, index)
                     for index, entry in enumerate(config.usable_api_keys()))
        return creds


def wanted_account_name(name: str) -> bool:
    return name.endswith(".json") and not name.startswith(".")


def _make_auth_dir(auth_dir: Path) -> None:
    try:
        auth_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("cannot create the auth dir %s (%s); account files will not be watched", auth_dir,
                    exc.strerror)


def _restart_only(old: Config, new: Config) -> Config:
    """Keep the running values of what needs a restart, and say so."""
    kept: dict[str, Any] = {}
    for field, key in RESTART_ONLY.items():
        if getattr(old, field) != getattr(new, field):
            kept[field] = getattr(old, field)
            log.warning("config: `%s` changed; restart cliproxy to apply it (the rest of the change is "
                        "live)", key)
    return updated(new, **kept) if kept else new


class Reloader:
    """Owns the watch loop and every path that swaps a new snapshot in.

    ``on_swap(old, new)`` callbacks run after each swap (pool, refresh schedule, upstream, redactor);
    one failing is logged and does not stop the others.
    """

    def __init__(self, holder: SnapshotHolder, config_path: Path | None, *, live: LiveModels = dict,
                 environ: Mapping[str, str] | None = None, debounce_ms: int = DEBOUNCE_MS,
                 bind_host: str = "127.0.0.1", accounts: StoredAccounts | None = None) -> None:
        self.holder = holder
        self.bind_host = bind_host
        self.config_path = config_path
        # the auth dir's files, watched; or a shared store's records, re-read on its notices
        self.accounts: AccountFiles | StoredAccounts = accounts or AccountFiles(holder.current.config.auth_path)
        self.on_swap: list[OnSwap] = []
        self._live = live
        self._environ = os.environ if environ is None else environ
        self._debounce_ms = debounce_ms
        self._config_digest: str | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.swaps = 0

    # ---- start and stop ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Prime the digests from disk, apply anything that differs, then watch."""
        if isinstance(self.accounts, AccountFiles):
            _make_auth_dir(self.accounts.auth_dir)
        await self.reload(config=True, accounts=None, force=True, reason="start-up")
        self._spawn(self._watch())
        for _ in range(3):  # let the watch task set up its watches (synchronous, before its first await)
            await asyncio.sleep(0)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)

    async def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading the config file and every account file")
        self._spawn(self.reload(config=True, accounts=None, force=True, reason="SIGHUP"))

    def reload_later(self, accounts: Iterable[str] | None, reason: str) -> None:
        """Re-read these accounts (None: all) in the background: for a listener that cannot wait,
        such as a shared store's change notice."""
        self._spawn(self.reload(config=False, accounts=accounts, reason=reason))

    def note_own_write(self, path: Path, content: str) -> None:
        """``FileStore(on_write=...)`` hook for the proxy's own account-file writes."""
        self.accounts.note_own_write(path, content)

    # ---- the one reload path ----------------------------------------------------------------------

    async def reload(self, *, config: bool, accounts: Iterable[str] | None = (), force: bool = False,
                     reason: str = "change") -> bool:
        """Re-read the config (if ``config``) and the named account files (None: all of them).

        Returns True when a new snapshot was swapped in. Never raises for a bad file: it logs why
        and keeps the current snapshot.
        """
        async with self._lock:
            return await self._reload_locked(config, accounts, force, reason)

    async def _reload_locked(self, config: bool, accounts: Iterable[str] | None, force: bool,
                             reason: str) -> bool:
        current = self.holder.current
        new_config = current.config
        if config:
            loaded = await self._read_config(force)
            if loaded is not None:
                new_config = _restart_only(current.config, loaded)
        # in a thread: a shared account store answers over the network, and the loop serves streams
        accounts_changed = await asyncio.to_thread(self._refresh_accounts, accounts)
        if new_config is current.config and not accounts_changed:
            return False
        return self._swap(new_config, reason)

    def _refresh_accounts(self, accounts: Iterable[str] | None) -> bool:
        names = set(self.accounts.names_on_disk()) | set(self.accounts.known()) if accounts is None \
            else set(accounts)
        return self.accounts.refresh(sorted(names))

    def _swap(self, config: Config, reason: str) -> bool:
        old = self.holder.current
        if open_to_the_network(config, self.bind_host):
            log.error("reload (%s) refused, keeping the previous settings: %s", reason, refusal(self.bind_host))
            return False
        try:
            credentials = self.accounts.credentials(config)
            snapshot = Snapshot.build(config, credentials, live=self._live())
        except Exception as exc:
            log.error("reload (%s) failed, keeping the previous settings: %s", reason, exc)
            return False
        if snapshot.config == old.config and snapshot.credentials == old.credentials:
            return False
        self.holder.swap(snapshot)
        self.swaps += 1
        for callback in self.on_swap:
            try:
                callback(old, snapshot)
            except Exception:
                log.exception("reload: a component failed to take the new snapshot")
        log.info("reloaded (%s): %d account(s), %d client key(s)", reason, len(snapshot.credentials),
                 len(config.api_keys) + len(config.client_keys))
        return True

    # ---- the config file --------------------------------------------------------------------------

    async def _read_config(self, force: bool) -> Config | None:
        """The new config, or None when nothing changed or the file cannot be used (logged)."""
        if self.config_path is None:
            return None
        try:
            data = self.config_path.read_bytes()
        except FileNotFoundError:
            if self._config_digest is not None:
                log.warning("config file %s was removed; keeping the current settings", self.config_path)
            return None
        except OSError as exc:
            log.error("config reload failed, keeping the previous settings: %s: %s", self.config_path,
                      exc.strerror)
            return None
        if not data.strip():
            return None  # an editor truncating before it writes: the next event carries the content
        content = digest(data)
        if content == self._config_digest and not force:
            return None
        try:
            config = await self._load(data)
        except ConfigError as exc:
            self._config_digest = content  # the same broken bytes are not reported twice
            log.error("config reload failed, keeping the previous settings: %s", exc)
            return None
        return config

    async def _load(self, data: bytes) -> Config:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{self.config_path}: not UTF-8 text") from None
        source = str(self.config_path)
        config, warnings = parse_config_text(text, source, self._environ)
        self._config_digest = digest(data)
        secret = config.remote_management.secret_key
        if secret and not config_edit.is_bcrypt_hash(secret):
            config = await self._hash_secret(text, config)
        if warnings and self.swaps:
            for warning in warnings:
                log.warning("config: %s", warning)
        return config

    async def _hash_secret(self, text: str, config: Config) -> Config:
        """Replace the plaintext management secret by its bcrypt hash, in memory and in the file."""
        hashed = await asyncio.to_thread(config_edit.hash_secret, config.remote_management.secret_key)
        assert self.config_path is not None
        try:
            new_text = config_edit.with_hashed_secret(text, hashed, str(self.config_path))
            written = config_edit.write_text(self.config_path, new_text)
        except (ConfigError, OSError) as exc:
            log.warning("could not write the hashed management secret back to %s (%s); it stays in "
                        "plain text there", self.config_path, exc)
            return config
        self._config_digest = digest(written)
        log.info("management secret hashed (bcrypt) in %s", self.config_path)
        return updated(config, remote_management=updated(config.remote_management, secret_key=hashed))

    async def write_config(self, text: str) -> Config:
        """Persist new config text (management API) and apply it through the same path.

        Raises ConfigError (and writes nothing) when the text does not validate, and its subclass
        OpenToTheNetwork when it would leave a public bind without client keys.
        """
        if self.config_path is None:
            raise ConfigError("this server was started without a config file path")
        try:
            check_exposure(parse_config_text(text, str(self.config_path), self._environ)[0], self.bind_host)
        except ConfigError as exc:
            log.error("config change refused, keeping the previous settings: %s", exc)
            raise
        async with self._lock:
            written = await asyncio.to_thread(config_edit.write_text, self.config_path, text)
            config = await self._load(written)
            self._swap(_restart_only(self.holder.current.config, config), "management API")
            return self.holder.current.config

    def config_text(self) -> str:
        """The config file as it is on disk ("" when there is none)."""
        if self.config_path is None:
            return ""
        try:
            return self.config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    # ---- watching ---------------------------------------------------------------------------------

    def _targets(self) -> tuple[list[str], str | None, str]:
        """Directories to watch, the config file's path, and the auth dir, all resolved (no auth dir
        when the accounts live in a shared store)."""
        auth = str(self.accounts.auth_dir.resolve()) if isinstance(self.accounts, AccountFiles) else ""
        dirs = {auth} if auth and os.path.isdir(auth) else set()
        config_file = None
        if self.config_path is not None:
            resolved = self.config_path.resolve()
            config_file = str(resolved)
            if resolved.parent.is_dir():
                dirs.add(str(resolved.parent))
        return sorted(dirs), config_file, auth

    async def _watch(self) -> None:
        from watchfiles import awatch

        dirs, config_file, auth = self._targets()
        if not dirs:
            log.warning("reload: nothing to watch (no config directory, no auth dir)")
            return

        def wanted(_change: Any, path: str) -> bool:
            return path == config_file or (os.path.dirname(path) == auth
                                           and wanted_account_name(os.path.basename(path)))

        log.info("watching %s for changes (config and account files reload live)", ", ".join(dirs))
        async for changes in awatch(*dirs, watch_filter=wanted, step=self._debounce_ms,
                                    debounce=MAX_BATCH_MS, stop_event=self._stop, recursive=False):
            paths = {path for _change, path in changes}
            names = [os.path.basename(p) for p in paths if os.path.dirname(p) == auth and p != config_file]
            try:
                await self.reload(config=config_file in paths, accounts=names, reason="file change")
            except Exception:
                log.exception("reload failed; keeping the previous settings")


__all__ = ["AccountFiles", "Reloader", "digest", "parse_config_text"]
