"""The immutable view a request works with: config, credentials, model registry.

Reload builds a new Snapshot and swaps one reference; a request keeps the one it started with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cliproxy.auth.credentials import load_credentials
from cliproxy.config.catalogue import ModelInfo
from cliproxy.config.catalogue_override import configured_catalogue
from cliproxy.config.models import ModelRegistry
from cliproxy.config.schema import Config
from cliproxy.credential import Credential


@dataclass(frozen=True)
class Snapshot:
    config: Config
    credentials: tuple[Credential, ...]
    registry: ModelRegistry

    @classmethod
    def build(cls, config: Config, credentials: Sequence[Credential] | None = None,
              live: Mapping[str, Sequence[ModelInfo]] | None = None) -> Snapshot:
        creds = tuple(load_credentials(config) if credentials is None else credentials)
        catalogue = configured_catalogue(config.models.catalogue, config.models.catalogue_file)
        return cls(config=config, credentials=creds, registry=ModelRegistry.build(config, creds, live, catalogue))


class SnapshotHolder:
    """The one mutable reference: ``current`` is swapped whole, never edited."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.current = snapshot

    def swap(self, snapshot: Snapshot) -> None:
        self.current = snapshot
