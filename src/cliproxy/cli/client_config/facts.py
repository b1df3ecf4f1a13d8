"""What a client needs to know about this server: its base address, a key it accepts, and the
models it serves (with their context windows).

The models come from the running server when it answers (``GET /v1/models?client_version=…``: the
Codex catalogue shape, the only list that carries each model's context window), else from the
bundled catalogue, so ``setup`` works before the first ``serve`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from cliproxy.config.catalogue import bundled_catalogue

# Any non-empty key is accepted by a server without api-keys (it serves loopback clients only), but
# Claude Code and the SDKs refuse to start without one.
OPEN_MODE_KEY = "cliproxy"
MODELS_QUERY = "/v1/models?client_version=0.0.0"


@dataclass(frozen=True)
class ServedModel:
    id: str
    context: int  # tokens; 0 when unknown


@dataclass(frozen=True)
class ServerFacts:
    url: str  # e.g. http://127.0.0.1:8317 (no trailing slash, no /v1)
    key: str
    models: tuple[ServedModel, ...]
    source: str  # where the model list came from, said to the user

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.models)

    def context_of(self, model_id: str) -> int:
        return next((m.context for m in self.models if m.id == model_id), 0)


Fetch = Callable[[str, str], Any]  # (url, key) -> the parsed JSON answer, or None


def fetch_json(url: str, key: str) -> Any:
    """The server's JSON answer, or None when nothing of ours answers with a 200."""
    try:
        response = httpx.get(url, headers={"authorization": f"Bearer {key}"}, timeout=3.0, verify=False,
                             trust_env=False)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def served_models(answer: Any) -> tuple[ServedModel, ...]:
    """The listed (not hidden) models of a Codex catalogue answer, in the server's order."""
    entries = answer.get("models") if isinstance(answer, dict) else None
    if not isinstance(entries, list):
        return ()
    return tuple(ServedModel(str(e["slug"]), int(e.get("context_window") or 0)) for e in entries
                 if isinstance(e, dict) and e.get("slug") and e.get("visibility", "list") != "hide")


def bundled_models() -> tuple[ServedModel, ...]:
    catalogue = bundled_catalogue()
    return tuple(ServedModel(m.id, m.context_length) for m in catalogue.for_plan(catalogue.default_plan)
                 if not m.hidden)


def gather(url: str, keys: Sequence[str], key: str | None = None, fetch: Fetch = fetch_json) -> ServerFacts:
    """The facts for ``url``: ``key`` if given, else the config's first key, else the open-mode key."""
    chosen = key or (keys[0] if keys else OPEN_MODE_KEY)
    base = url.rstrip("/").removesuffix("/v1")
    live = served_models(fetch(base + MODELS_QUERY, chosen))
    if live:
        return ServerFacts(base, chosen, live, f"served by the running server at {base}")
    return ServerFacts(base, chosen, bundled_models(), "the bundled catalogue (the server did not answer)")


def claude_families(facts: ServerFacts) -> dict[str, str]:
    """Which served model stands in for each Claude family: the first listed model for opus, the
    next full-size one for sonnet, the first ``mini`` one (else the last) for haiku."""
    ids = list(facts.model_ids)
    if not ids:
        return {}
    full = [m for m in ids if "mini" not in m and "spark" not in m] or ids
    small = [m for m in ids if "mini" in m] or [ids[-1]]
    return {"opus": full[0], "sonnet": full[1] if len(full) > 1 else full[0], "haiku": small[0]}


__all__ = ["OPEN_MODE_KEY", "ServedModel", "ServerFacts", "claude_families", "fetch_json", "gather",
           "served_models"]
