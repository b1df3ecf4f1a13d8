"""The accounts of a shared account store (Redis) as last read: the reloader's counterpart of the
auth dir's ``AccountFiles``, for ``state.accounts: redis``.

A file changes under a watcher; a record in Redis changes with a notice (``on_record``, an opaque
name), and the reloader then re-reads that record here. Each record is kept with its plain content in
canonical form, to compare (the stored bytes are encrypted afresh on every write, so they cannot tell a
change apart).
A store that is away changes nothing: the last view stays, and a full read follows its return.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cliproxy.auth.credentials import credential_from_api_key, credential_from_record
from cliproxy.auth.store import CredentialStore, StoreError, encode_record
from cliproxy.config.schema import Config
from cliproxy.credential import Credential
from cliproxy.state.base import opaque

log = logging.getLogger(__name__)


class StoredAccounts:
    """Content and record per name, read through a ``CredentialStore`` (in a worker thread)."""

    def __init__(self, store: CredentialStore) -> None:
        self.store = store
        self._records: dict[str, tuple[bytes, dict[str, Any]]] = {}

    def names_on_disk(self) -> list[str]:
        """The names in the store now (the reloader's word, from the auth dir); the known ones while
        the store cannot answer, so that nothing is dropped for an outage."""
        try:
            return self.store.names()
        except StoreError as exc:
            log.warning("accounts: cannot list the shared accounts (%s); keeping the ones loaded", exc)
            return self.known()

    def known(self) -> list[str]:
        return sorted(self._records)

    def names_for(self, notice: str) -> list[str] | None:
        """The known name a change notice's opaque name stands for; None (read them all) for a name
        not known yet, such as a new login on another host."""
        found = [name for name in self._records if opaque(name) == notice]
        return found or None

    def refresh(self, names: Iterable[str]) -> bool:
        """Re-read these records, all or none: True when any was added, changed or removed."""
        try:
            read = {name: self.store.read(name) for name in names}
        except StoreError as exc:
            log.warning("accounts: cannot read the shared accounts (%s); keeping the ones loaded", exc)
            return False
        changed = False
        for name, record in read.items():
            changed |= self._apply(name, record)
        return changed

    def _apply(self, name: str, record: dict[str, Any] | None) -> bool:
        if record is None:
            return self._records.pop(name, None) is not None
        content = encode_record(record)
        known = self._records.get(name)
        if known is not None and known[0] == content:
            return False
        self._records[name] = (content, record)
        return True

    def note_own_write(self, path: Path, content: str) -> None:
        """Only the file store announces its writes this way; this instance's own record writes are
        told apart by their notices' origin instead."""

    def credentials(self, config: Config) -> list[Credential]:
        """Account credentials in id order, then ``codex-api-key`` entries (as ``load_credentials``)."""
        creds = [credential_from_record(record, name, config.codex_base_url)
                 for name, (_content, record) in sorted(self._records.items())]
        creds.extend(credential_from_api_key(entry, index) for index, entry in enumerate(config.usable_api_keys()))
        return creds


__all__ = ["StoredAccounts"]
