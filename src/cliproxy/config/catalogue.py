"""The bundled model catalogue: every model the proxy knows, its limits and levels, and which plan sees it.

It is read once from ``cliproxy/data/models.json``. The registry falls back to it for an account
whose live catalogue is unknown; live discovery (``upstream.catalogue``) parses the backend's
answer into the same ``ModelInfo``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import orjson

from cliproxy.responses.effort import DEFAULT_LEVELS

DEFAULT_MAX_COMPLETION_TOKENS = 128000


@dataclass(frozen=True)
class ModelInfo:
    """One model as clients see it. ``levels`` are the reasoning efforts it accepts, weakest first.

    ``hidden`` models are routable but appear only in the Codex CLI catalogue (with
    ``visibility:"hide"``), as the backend's own catalogue does for e.g. ``codex-auto-review``.
    ``codex_entry`` is the backend's own catalogue entry when the model came from live discovery;
    the Codex CLI catalogue passes it through, because it carries the model's real prompts.
    """

    id: str
    display_name: str
    created: int
    context_length: int
    max_completion_tokens: int
    levels: tuple[str, ...]
    owned_by: str = "openai"
    description: str = ""
    hidden: bool = False
    codex_entry: Mapping[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Catalogue:
    """The bundled model table: models in listing order, and which plan sees which of them."""

    models: tuple[ModelInfo, ...]
    plans_of: Mapping[str, frozenset[str]]  # model id (lower-case) -> plan lists it belongs to
    plan_aliases: Mapping[str, str]  # plan_type claim -> plan list
    default_plan: str
    level_descriptions: Mapping[str, str]
    codex_template: Mapping[str, Any]

    def get(self, model_id: str) -> ModelInfo | None:
        lowered = model_id.lower()
        return next((info for info in self.models if info.id.lower() == lowered), None)

    def rank(self, model_id: str) -> int | None:
        lowered = model_id.lower()
        return next((i for i, info in enumerate(self.models) if info.id.lower() == lowered), None)

    def for_plan(self, plan: str) -> tuple[ModelInfo, ...]:
        """The plan's list (``plan_aliases`` maps a plan name to one); a missing or unknown plan gets the pro list."""
        plan_list = self.plan_aliases.get(plan.strip().lower(), self.default_plan)
        return tuple(info for info in self.models if plan_list in self.plans_of[info.id.lower()])


def model_from_record(record: Mapping[str, Any]) -> ModelInfo:
    return ModelInfo(
        id=str(record["id"]),
        display_name=str(record.get("display_name") or record["id"]),
        created=int(record.get("created", 0)),
        context_length=int(record.get("context_length", 0)),
        max_completion_tokens=int(record.get("max_completion_tokens", DEFAULT_MAX_COMPLETION_TOKENS)),
        levels=tuple(str(level).lower() for level in record.get("levels", DEFAULT_LEVELS)),
        owned_by=str(record.get("owned_by", "openai")),
        description=str(record.get("description", "")),
    )


def parse_catalogue(raw: bytes) -> Catalogue:
    """Parse a catalogue file in the format of ``cliproxy/data/models.json``."""
    data = orjson.loads(raw)
    records = data["models"]
    return Catalogue(
        models=tuple(model_from_record(record) for record in records),
        plans_of={str(r["id"]).lower(): frozenset(r.get("plans", ())) for r in records},
        plan_aliases={str(k).lower(): str(v) for k, v in data.get("plans", {}).items()},
        default_plan=str(data.get("default_plan", "pro")),
        level_descriptions=dict(data.get("level_descriptions", {})),
        codex_template=dict(data.get("codex_client_template", {})),
    )


@cache
def bundled_catalogue() -> Catalogue:
    """The catalogue shipped in the package (read once)."""
    raw = resources.files("cliproxy.data").joinpath("models.json").read_bytes()
    return parse_catalogue(raw)


__all__ = [
    "DEFAULT_MAX_COMPLETION_TOKENS",
    "Catalogue",
    "ModelInfo",
    "bundled_catalogue",
    "model_from_record",
    "parse_catalogue",
]
