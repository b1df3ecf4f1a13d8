"""The model registry: which names a client may ask for, which credentials serve them, and how a
thinking setting becomes a ``reasoning.effort`` the Codex backend accepts (proxy.md §2).

The registry is built once per snapshot from the config, the loaded credentials and (optionally)
each account's live model catalogue, then only read. Resolving a name never does I/O, so routes
can call it before anything is committed to the client.

Divergences from CLIProxyAPI, on purpose (proxy.md §2.1, §2.4):
- an unknown model is a 404 ``model_not_found`` in the client's dialect, not a 502;
- ``minimal`` (and any other real level a model lacks, such as ``max``) is clamped to the nearest
  level the model supports for every client dialect; only values that are not levels at all are a 400.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import orjson

from cliproxy.auth.credentials import Credential
from cliproxy.config.schema import Config, ModelAlias
from cliproxy.errors import ProxyError, bad_request, model_not_found

# Every reasoning level any Codex model is known to accept, weakest first. The rank is what
# "nearest supported level" is measured in.
LEVEL_ORDER: tuple[str, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra")
_RANK = {level: rank for rank, level in enumerate(LEVEL_ORDER)}
DEFAULT_LEVELS: tuple[str, ...] = ("low", "medium", "high", "xhigh")
DEFAULT_MAX_COMPLETION_TOKENS = 128000
AUTO_MODEL = "auto"
IMAGE_MODEL = "gpt-image-2"


# --------------------------------------------------------------------------------------------
# Model descriptions and the bundled catalogue
# --------------------------------------------------------------------------------------------


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
        """The plan's list (proxy.md §2.2 plan mapping); a missing or unknown plan gets the pro list."""
        plan_list = self.plan_aliases.get(plan.strip().lower(), self.default_plan)
        return tuple(info for info in self.models if plan_list in self.plans_of[info.id.lower()])


def _model_from_record(record: Mapping[str, Any]) -> ModelInfo:
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
        models=tuple(_model_from_record(record) for record in records),
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


# --------------------------------------------------------------------------------------------
# Name parsing
# --------------------------------------------------------------------------------------------


def split_suffix(name: str) -> tuple[str, str | None]:
    """``"gpt-5.4(high)"`` -> ``("gpt-5.4", "high")``: the suffix is what sits between the *last*
    ``(`` and a final ``)`` (proxy.md §2.3). Names without one give ``None``."""
    if name.endswith(")"):
        opening = name.rfind("(")
        if opening > 0:
            return name[:opening], name[opening + 1 : -1]
    return name, None


def _wildcard(pattern: str) -> re.Pattern[str]:
    """``*`` anywhere, case-insensitive, whole-name match (``gpt-5-*``, ``*-mini``, ``*codex*``)."""
    body = ".*".join(re.escape(part) for part in pattern.strip().split("*"))
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def _clean_prefix(prefix: str) -> str:
    """Prefixes are one path segment; surrounding slashes are trimmed, anything else is ignored."""
    trimmed = prefix.strip().strip("/")
    return "" if "/" in trimmed else trimmed


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedModel:
    """A client's model name after routing: what it asked for and what that means."""

    requested: str  # as the client sent it, e.g. "team/gpt-5.4(high)"
    id: str  # client-visible id without suffix or prefix (an alias or a model id)
    prefix: str  # credential prefix the request addressed ("" = any credential registered bare)
    suffix: str | None  # raw text inside the final parentheses, if any
    info: ModelInfo | None  # None for user-defined models: their thinking settings pass through


@dataclass(frozen=True)
class _Offer:
    """One model a credential offers: the id clients use, the name Codex gets, and its rules."""

    client_id: str
    upstream: str
    info: ModelInfo | None  # thinking rules; None = user-defined
    listing: ModelInfo  # what model lists show


@dataclass(frozen=True)
class _Route:
    credential: Credential
    upstream: str
    info: ModelInfo | None


def _user_defined(model_id: str) -> ModelInfo:
    """Listing entry for a ``codex-api-key`` model the catalogue does not know."""
    return ModelInfo(
        id=model_id,
        display_name=model_id,
        created=0,
        context_length=0,
        max_completion_tokens=DEFAULT_MAX_COMPLETION_TOKENS,
        levels=DEFAULT_LEVELS,
    )


def _codex_section(section: Mapping[str, Sequence[Any]]) -> Sequence[Any]:
    """``oauth-model-alias.codex`` / ``oauth-excluded-models.codex``, key matched case-insensitively."""
    return next((value for key, value in section.items() if key.lower() == "codex"), ())


class _Builder:
    """Accumulates routes while credentials are added; ``finish`` freezes them into a registry."""

    def __init__(self, config: Config, catalogue: Catalogue) -> None:
        self._config = config
        self._catalogue = catalogue
        self._aliases: tuple[ModelAlias, ...] = tuple(_codex_section(config.oauth_model_alias))
        self._oauth_excluded = tuple(str(p) for p in _codex_section(config.oauth_excluded_models))
        self._routes: dict[tuple[str, str], list[_Route]] = {}
        self._listing: dict[tuple[str, str], ModelInfo] = {}
        self._ranks: dict[tuple[str, str], int] = {}  # the upstream model's catalogue position
        self._prefixes: dict[str, str] = {}  # lower-case prefix -> as configured

    def add(self, credential: Credential, live: Sequence[ModelInfo] | None) -> None:
        offers = self._offers(credential, live)
        excluded = [_wildcard(p) for p in self._excluded_patterns(credential) if p.strip()]
        for offer in offers:
            if any(p.fullmatch(offer.client_id) or p.fullmatch(offer.upstream) for p in excluded):
                continue
            self._register(credential, offer)

    def _excluded_patterns(self, credential: Credential) -> tuple[str, ...]:
        if credential.kind == "oauth":
            return self._oauth_excluded + credential.excluded_models
        return credential.excluded_models

    def _offers(self, credential: Credential, live: Sequence[ModelInfo] | None) -> list[_Offer]:
        if credential.kind == "api-key" and credential.models:
            return self._api_key_offers(credential, live)
        if live:
            base: Sequence[ModelInfo] = live
        elif credential.kind == "api-key":
            base = self._catalogue.for_plan(self._catalogue.default_plan)
        else:
            base = self._catalogue.for_plan(credential.plan)
        if credential.kind == "oauth":
            return self._aliased(base)
        return [_Offer(info.id, info.id, info, info) for info in base]

    def _api_key_offers(self, credential: Credential, live: Sequence[ModelInfo] | None) -> list[_Offer]:
        """``models[{name, alias}]``: exactly those, the alias being what clients ask for."""
        known = {info.id.lower(): info for info in self._catalogue.models}
        known.update({info.id.lower(): info for info in live or ()})
        offers = []
        for entry in credential.models:
            name = entry.name.strip()
            if not name:
                continue
            client_id = entry.alias.strip() or name
            info = known.get(name.lower())
            rules = replace(info, id=client_id) if info else None
            offers.append(_Offer(client_id, name, rules, rules or _user_defined(client_id)))
        return offers

    def _aliased(self, base: Sequence[ModelInfo]) -> list[_Offer]:
        """``oauth-model-alias.codex``: the alias replaces the name, or joins it with ``fork``."""
        offers = []
        for info in base:
            matching = [a for a in self._aliases
                        if a.alias.strip() and a.name.strip().lower() == info.id.lower()]
            if not matching or any(a.fork for a in matching):
                offers.append(_Offer(info.id, info.id, info, info))
            for alias in matching:
                renamed = replace(info, id=alias.alias.strip())
                offers.append(_Offer(renamed.id, info.id, renamed, renamed))
        return offers

    def _register(self, credential: Credential, offer: _Offer) -> None:
        prefix = _clean_prefix(credential.prefix)
        keys = []
        if prefix:
            self._prefixes.setdefault(prefix.lower(), prefix)
            keys.append(prefix.lower())
        bare_allowed = not self._config.force_model_prefix or prefix.lower() in ("", offer.client_id.lower())
        if bare_allowed:
            keys.append("")
        for key_prefix in keys:
            key = (key_prefix, offer.client_id.lower())
            routes = self._routes.setdefault(key, [])
            if any(route.credential.id == credential.id for route in routes):
                continue
            routes.append(_Route(credential, offer.upstream, offer.info))
            if key not in self._listing:
                shown = f"{self._prefixes[key_prefix]}/{offer.client_id}" if key_prefix else offer.client_id
                self._listing[key] = replace(offer.listing, id=shown)
                rank = self._catalogue.rank(offer.upstream)
                self._ranks[key] = len(self._catalogue.models) if rank is None else rank

    def finish(self) -> ModelRegistry:
        order = {key: index for index, key in enumerate(self._listing)}

        def sort_key(key: tuple[str, str]) -> tuple[int, str, int, int]:
            return (1 if key[0] else 0, key[0], self._ranks[key], order[key])

        listing = {key: self._listing[key] for key in sorted(self._listing, key=sort_key)}
        return ModelRegistry(self._routes, listing, self._prefixes)


def _image_model_error() -> ProxyError:
    return ProxyError(
        503,
        f"model {IMAGE_MODEL} is only supported on /v1/images/generations and /v1/images/edits, "
        "which this proxy does not serve",
        code="model_not_supported",
        type="invalid_request_error",
    )


class ModelRegistry:
    """Model names -> credentials able to serve them, for one snapshot. Read-only once built."""

    def __init__(
        self,
        routes: Mapping[tuple[str, str], Sequence[_Route]],
        listing: Mapping[tuple[str, str], ModelInfo],
        prefixes: Mapping[str, str],
    ) -> None:
        self._routes = {key: tuple(value) for key, value in routes.items()}
        self._listing = dict(listing)
        self._prefixes = dict(prefixes)

    @classmethod
    def build(
        cls,
        config: Config,
        credentials: Sequence[Credential],
        live: Mapping[str, Sequence[ModelInfo]] | None = None,
        catalogue: Catalogue | None = None,
    ) -> ModelRegistry:
        """Register every credential's models. ``live`` maps a credential id to the models its
        backend catalogue reported; a non-empty entry replaces the bundled plan list for it.
        Disabled credentials register nothing."""
        builder = _Builder(config, catalogue or bundled_catalogue())
        for credential in sorted(credentials, key=lambda c: c.id):
            if not credential.disabled:
                builder.add(credential, (live or {}).get(credential.id))
        return builder.finish()

    def resolve(self, name: str) -> ResolvedModel:
        """Route a client's model name, or raise the ProxyError the client should see."""
        base, suffix = split_suffix(name.strip())
        if base.rsplit("/", 1)[-1].lower() == IMAGE_MODEL:
            raise _image_model_error()
        key = self._locate(base)
        if key is None:
            raise model_not_found(base, self._hint())
        listed = self._listing[key]
        prefix = self._prefixes.get(key[0], "")
        client_id = listed.id[len(prefix) + 1 :] if prefix else listed.id
        return ResolvedModel(name, client_id, prefix, suffix, self._routes[key][0].info)

    def _locate(self, base: str) -> tuple[str, str] | None:
        lowered = base.lower()
        head, _, rest = lowered.partition("/")
        if rest and head in self._prefixes:
            key = self._first(head) if rest == AUTO_MODEL else (head, rest)
            if key in self._routes:
                return key
        if lowered == AUTO_MODEL:
            return self._first("")
        return ("", lowered) if ("", lowered) in self._routes else None

    def _first(self, prefix: str) -> tuple[str, str] | None:
        """``auto``: the first listed model under that prefix."""
        return next((key for key, info in self._listing.items() if key[0] == prefix and not info.hidden),
                    None)

    def _hint(self) -> str:
        names = [info.id for key, info in self._listing.items() if not key[0] and not info.hidden]
        if not names:
            return "No loaded account can serve any model."
        shown = ", ".join(names[:8])
        more = f" and {len(names) - 8} more" if len(names) > 8 else ""
        return f"Available models: {shown}{more} (GET /v1/models lists them)."

    def candidates(self, model: ResolvedModel) -> tuple[Credential, ...]:
        """Credentials able to serve the model, in credential-id order."""
        routes = self._routes.get((model.prefix.lower(), model.id.lower()), ())
        return tuple(route.credential for route in routes)

    def upstream_name(self, model: ResolvedModel, credential: Credential) -> str:
        """The model name sent to Codex with this credential: aliases and ``models[].alias`` are
        turned back into the upstream name; prefix and suffix never reach Codex."""
        for route in self._routes.get((model.prefix.lower(), model.id.lower()), ()):
            if route.credential.id == credential.id:
                return route.upstream
        raise ValueError(f"credential {credential.name} does not serve model {model.id}")

    def models(self, include_hidden: bool = False) -> list[ModelInfo]:
        """Every listed id (bare ids first, in catalogue order; then prefixed ids). Pass
        ``include_hidden=True`` for the Codex CLI catalogue, which marks hidden models itself."""
        return [info for info in self._listing.values() if include_hidden or not info.hidden]


# --------------------------------------------------------------------------------------------
# Reasoning effort (proxy.md §2.4)
# --------------------------------------------------------------------------------------------


def budget_to_level(budget: int) -> str:
    """CPA ``ConvertBudgetToLevel``: a thinking-token budget as a level name."""
    if budget == -1:
        return "auto"
    if budget < -1:
        raise bad_request(f"invalid thinking budget {budget}: use -1 (dynamic), 0 (off) or a positive "
                          "number of tokens", code="invalid_reasoning_effort")
    if budget == 0:
        return "none"
    for ceiling, level in ((512, "minimal"), (1024, "low"), (8192, "medium"), (24576, "high")):
        if budget <= ceiling:
            return level
    return "xhigh"


def _suffix_setting(suffix: str) -> str | int | None:
    """A suffix as a level or a budget; ``None`` when it means nothing (then it is ignored)."""
    text = suffix.strip().lower()
    if text.lstrip("-").isdigit():
        number = int(text)
        return "auto" if number == -1 else number if number >= 0 else None
    if text == AUTO_MODEL or text in _RANK:
        return text
    return None


def _body_setting(body: Mapping[str, Any]) -> str | int | None:
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, Mapping):
        return None
    effort = reasoning.get("effort")
    if isinstance(effort, bool) or effort is None:
        return None
    if isinstance(effort, int):
        return effort
    return str(effort).strip().lower() or None


def _nearest(level: str, levels: Sequence[str]) -> str:
    """The supported level closest in rank, ties to the weaker one; never ``none`` unless asked."""
    pool = [lv for lv in levels if lv != "none" and lv in _RANK] or [lv for lv in levels if lv in _RANK]
    return min(pool, key=lambda lv: (abs(_RANK[lv] - _RANK[level]), _RANK[lv]))


def _effort_for(setting: str | int, info: ModelInfo | None) -> str:
    level = budget_to_level(setting) if isinstance(setting, int) else setting
    levels = [lv for lv in info.levels if lv in _RANK] if info else []
    if not levels:
        return level  # user-defined model: pass through
    if level in levels:
        return level
    if level == "none":
        return min(levels, key=_RANK.__getitem__)
    if level == AUTO_MODEL:
        return _nearest("medium", levels)
    if level in _RANK:
        return _nearest(level, levels)
    valid = ", ".join(levels)
    raise bad_request(f'level "{level}" not supported by {info.id if info else "this model"}, '
                      f"valid levels: {valid}", code="invalid_reasoning_effort")


def apply_reasoning(body: dict[str, Any], model: ResolvedModel, same_family_as_codex: bool) -> None:
    """Set ``body["reasoning"]["effort"]`` from the model suffix, else from the translated body.

    ``none`` becomes the model's weakest level, ``auto`` becomes ``medium``, a budget becomes a
    level, and a real level the model lacks (``minimal``, ``max``, ``ultra``) is clamped to the
    nearest one it has. A value that is not a level at all is a 400 naming the valid levels.
    A suffix that is not a level or budget is ignored (proxy.md §2.3). User-defined models
    (``model.info is None``) get the value as given, budgets converted.

    ``same_family_as_codex`` says whether the client spoke an OpenAI dialect. CPA rejected
    unsupported levels from those clients; our divergence clamps for everyone, so it does not
    change the outcome today, but callers state it so the rule can be tightened in one place.
    """
    setting = _suffix_setting(model.suffix) if model.suffix is not None else None
    if setting is None:
        setting = _body_setting(body)
    if setting is None:
        return
    effort = _effort_for(setting, model.info)
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict):
        reasoning = {}
        body["reasoning"] = reasoning
    reasoning["effort"] = effort


# --------------------------------------------------------------------------------------------
# Model list shapes (proxy.md §2.6)
# --------------------------------------------------------------------------------------------


def openai_model_list(models: Iterable[ModelInfo]) -> dict[str, Any]:
    """Shape 3: exactly id/object/created/owned_by per model, as the OpenAI API answers."""
    data = [{"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by} for m in models]
    return {"object": "list", "data": data}


def _rfc3339(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def anthropic_model_list(models: Iterable[ModelInfo]) -> dict[str, Any]:
    """Shape 2, for ``claude-cli`` user agents."""
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
    return [{"effort": lv, "description": descriptions.get(lv, lv)} for lv in model.levels if lv in _RANK]


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
    """Shape 1, what Codex CLI reads from ``GET …/models?client_version=`` (verified against the
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
    "AUTO_MODEL",
    "IMAGE_MODEL",
    "LEVEL_ORDER",
    "Catalogue",
    "ModelInfo",
    "ModelRegistry",
    "ResolvedModel",
    "anthropic_model_list",
    "apply_reasoning",
    "budget_to_level",
    "bundled_catalogue",
    "codex_model_catalogue",
    "gemini_model_entry",
    "gemini_model_list",
    "openai_model_list",
    "parse_catalogue",
    "split_suffix",
]
