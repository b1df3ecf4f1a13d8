"""The model lists each client family reads: OpenAI, Anthropic, Gemini and the Codex CLI catalogue.

The registry decides *which* models a client sees; this module only decides how the list looks,
one shape per client, so ``GET /v1/models`` answers each client in the form its SDK parses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cliproxy.config.catalogue import Catalogue, ModelInfo, bundled_catalogue
from cliproxy.config.models import ModelRegistry
from cliproxy.pool.core import Pool
from cliproxy.responses.effort import RANK


def served_models(registry: ModelRegistry, pool: Pool, include_hidden: bool = False) -> list[ModelInfo]:
    """The models to list: a model whose every account needs a new login (its refresh failed for
    good) is left out, since a request for it could only fail until the user signs in again."""
    return registry.models(include_hidden, serves=lambda credential: not pool.current(credential).auth_error)


def openai_model_list(models: Iterable[ModelInfo]) -> dict[str, Any]:
    """Exactly id/object/created/owned_by per model, as the OpenAI API answers."""
    data = [{"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by} for m in models]
    return {"object": "list", "data": data}


def _rfc3339(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def anthropic_model_list(models: Iterable[ModelInfo]) -> dict[str, Any]:
    """The Anthropic shape, for ``claude-cli`` user agents."""
    data = [
        {
            "id": m.id,
            "object": "model",
            "owned_by": m.owned_by,
            "created_at": _rfc3339(m.created),
            "type": "model",
            "display_name": m.display_name or m.id,
        }
        for m in models
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def gemini_model_entry(model: ModelInfo) -> dict[str, Any]:
    """One ``/v1beta/models`` entry (also the body of ``GET /v1beta/models/{name}``)."""
    return {
        "name": f"models/{model.id}",
        "version": model.id,
        "displayName": model.display_name or model.id,
        "description": model.description or model.display_name or model.id,
        "inputTokenLimit": model.context_length,
        "outputTokenLimit": model.max_completion_tokens,
        "supportedGenerationMethods": ["generateContent"],
    }


def gemini_model_list(models: Iterable[ModelInfo]) -> dict[str, Any]:
    return {"models": [gemini_model_entry(m) for m in models]}


def _codex_levels(model: ModelInfo, descriptions: Mapping[str, str]) -> list[dict[str, str]]:
    # Codex rejects the whole catalogue on an unknown effort name, so only known levels go out.
    return [{"effort": lv, "description": descriptions.get(lv, lv)} for lv in model.levels if lv in RANK]


def _codex_template_entry(model: ModelInfo, catalogue: Catalogue) -> dict[str, Any]:
    levels = _codex_levels(model, catalogue.level_descriptions)
    efforts = [entry["effort"] for entry in levels]
    entry: dict[str, Any] = {
        "slug": model.id,
        "display_name": model.display_name or model.id,
        "description": model.description or None,
        "supported_reasoning_levels": levels,
        "visibility": "hide" if model.hidden else "list",
    }
    if efforts:
        entry["default_reasoning_level"] = "medium" if "medium" in efforts else efforts[0]
    if model.context_length:
        entry["context_window"] = model.context_length
    entry.update(catalogue.codex_template)
    return entry


def codex_model_catalogue(models: Iterable[ModelInfo], catalogue: Catalogue | None = None) -> dict[str, Any]:
    """What Codex CLI reads from ``GET …/models?client_version=`` (verified against the
    0.169.0 binary: it requires slug, display_name, supported_reasoning_levels, shell_type,
    visibility, supported_in_api, priority, support_verbosity, truncation_policy,
    experimental_supported_tools and base_instructions, and it *replaces* its own catalogue with
    ours). Models from live discovery carry the backend's own entry, passed through with the
    client-visible slug; others are filled from the bundled template, whose ``base_instructions``
    is a short generic prompt. ``priority`` follows our order (Codex's default is priority 1)."""
    catalogue = catalogue or bundled_catalogue()
    entries = []
    for index, model in enumerate(models):
        if model.codex_entry is not None:
            entry = dict(model.codex_entry)
            entry["slug"] = model.id
        else:
            entry = _codex_template_entry(model, catalogue)
        entry["priority"] = index + 1
        entries.append(entry)
    return {"models": entries}


__all__ = [
    "anthropic_model_list",
    "codex_model_catalogue",
    "gemini_model_entry",
    "gemini_model_list",
    "openai_model_list",
    "served_models",
]
