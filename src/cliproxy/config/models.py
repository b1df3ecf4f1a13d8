"""The model registry: which names a client may ask for and which credentials serve them.

The registry is built once per snapshot from the config, the loaded credentials and (optionally)
each account's live model catalogue, then only read. Resolving a name never does I/O, so routes
can call it before anything is committed to the client. How a thinking setting becomes an effort
is ``responses.effort``; how the lists look to each client is ``server.model_lists``.

Divergence from CLIProxyAPI, on purpose: an unknown model is a 404 ``model_not_found`` in the
client's dialect, not a 502.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cliproxy.config.catalogue import DEFAULT_MAX_COMPLETION_TOKENS, Catalogue, ModelInfo, bundled_catalogue
from cliproxy.config.schema import Config, ModelAlias
from cliproxy.credential import Credential
from cliproxy.errors import ProxyError, model_not_found
from cliproxy.responses.effort import DEFAULT_LEVELS, apply_effort

AUTO_MODEL = "auto"
IMAGE_MODEL = "gpt-image-2"


# --------------------------------------------------------------------------------------------
# Name parsing
# --------------------------------------------------------------------------------------------


def split_suffix(name: str) -> tuple[str, str | None]:
    """``"gpt-5.4(high)"`` -> ``("gpt-5.4", "high")``: the suffix is what sits between the *last*
    ``(`` and a final ``)``, as in CPA. Names without one give ``None``."""
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

    def models(self, include_hidden: bool = False,
               serves: Callable[[Credential], bool] | None = None) -> list[ModelInfo]:
        """Every listed id (bare ids first, in catalogue order; then prefixed ids). Pass
        ``include_hidden=True`` for the Codex CLI catalogue, which marks hidden models itself, and
        ``serves`` to keep only the models at least one such credential can serve."""
        return [info for key, info in self._listing.items() if (include_hidden or not info.hidden)
                and (serves is None or any(serves(route.credential) for route in self._routes.get(key, ())))]


def apply_reasoning(body: dict[str, Any], model: ResolvedModel, same_family_as_codex: bool) -> None:
    """Set ``body["reasoning"]["effort"]`` from the model suffix, else from the translated body,
    within the levels the resolved model accepts (``responses.effort`` has the rules).
    User-defined models (``model.info is None``) get the value as given, budgets converted.

    ``same_family_as_codex`` says whether the client spoke an OpenAI dialect. CPA rejected
    unsupported levels from those clients; our divergence clamps for everyone, so it does not
    change the outcome today, but callers state it so the rule can be tightened in one place.
    """
    info = model.info
    apply_effort(body, model.suffix, info.levels if info else None, info.id if info else model.id)


__all__ = [
    "AUTO_MODEL",
    "IMAGE_MODEL",
    "ModelRegistry",
    "ResolvedModel",
    "apply_reasoning",
    "split_suffix",
]
