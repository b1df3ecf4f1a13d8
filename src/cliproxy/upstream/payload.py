"""CLIProxyAPI's ``payload`` rules: set, replace or remove fields of the body sent upstream.

A rule applies when one of its ``models`` entries matches: the model name (``*`` wildcards; the
account's name for the model, or the client's, with or without its effort suffix), an optional
``protocol`` (always ``codex`` here), ``from-protocol`` (the client's API: ``openai``, ``responses``,
``claude``, ``gemini``), ``headers`` (each named client header matching its wildcard pattern) and
the body conditions ``match`` / ``not-match`` (path equals value), ``exist`` / ``not-exist``.

The kinds run in CLIProxyAPI's order: ``default`` then ``default-raw`` set a path only when the
translated body did not have it, the first matching rule winning; ``override`` then
``override-raw`` always set it, the last winning; ``filter`` removes paths. ``-raw`` values are JSON
text. Paths are gjson's: dot-separated keys and array indexes, ``\\.`` for a literal dot, ``-1`` to
append when setting, and ``#(key=="value")`` (``#(…)#`` for every match) to pick array elements.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

KINDS = ("default", "default-raw", "override", "override-raw", "filter")
# Our dialect names as CLIProxyAPI's ``from-protocol`` spells them.
FROM_PROTOCOL = {"openai": "openai", "completions": "openai", "openai-response": "responses",
                 "claude": "claude", "gemini": "gemini"}
_MISSING = object()


@dataclass(frozen=True, slots=True)
class ModelCondition:
    """One ``models`` entry of a rule."""

    name: str
    protocol: str = ""
    from_protocol: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    match: tuple[tuple[str, Any], ...] = ()
    not_match: tuple[tuple[str, Any], ...] = ()
    exist: tuple[str, ...] = ()
    not_exist: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    models: tuple[ModelCondition, ...]
    params: tuple[tuple[str, Any], ...]  # path → value; for ``filter`` the value is None


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the conditions look at, besides the body."""

    models: tuple[str, ...]  # candidate names, the account's first
    from_protocol: str
    headers: Mapping[str, str]


# ---- paths -------------------------------------------------------------------------------------

def split_path(path: str) -> list[str]:
    """``a.b\\.c.#(x==".").d`` → ``["a", "b.c", '#(x==".")', "d"]``."""
    parts, current, depth, quote, i = [], "", 0, "", 0
    while i < len(path):
        ch = path[i]
        if ch == "\\" and i + 1 < len(path):
            current += path[i + 1]
            i += 2
            continue
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif ch == "." and depth == 0:
            parts.append(current)
            current = ""
            i += 1
            continue
        current += ch
        i += 1
    parts.append(current)
    return parts


_TERM = re.compile(r"^\s*([^=!<>\s]+)\s*(==|!=)\s*(.+?)\s*$")


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _query_matches(item: Any, query: str) -> bool:
    """``key=="v" && other!=1 || …`` against one array element."""
    for alternative in query.split("||"):
        terms = [_TERM.match(term) for term in alternative.split("&&")]
        if all(term is not None and _term_holds(item, term) for term in terms):
            return True
    return False


def _term_holds(item: Any, term: re.Match[str]) -> bool:
    found = get(item, term.group(1))
    equal = found is not _MISSING and found == _literal(term.group(3))
    return equal if term.group(2) == "==" else not equal


def _query(part: str) -> tuple[str, bool] | None:
    """``#(q)`` → (q, False); ``#(q)#`` → (q, True); anything else → None."""
    if part.startswith("#(") and part.endswith(")#"):
        return part[2:-2], True
    if part.startswith("#(") and part.endswith(")"):
        return part[2:-1], False
    return None


def resolve(body: Any, path: str) -> list[list[str | int]]:
    """The concrete paths ``path`` names in ``body`` (several when a query matches several)."""
    paths: list[list[str | int]] = [[]]
    for part in split_path(path):
        query = _query(part)
        if query is None:
            paths = [[*p, part] for p in paths]
            continue
        found: list[list[str | int]] = []
        for prefix in paths:
            array = _walk(body, prefix)
            if isinstance(array, list):
                hits = [i for i, item in enumerate(array) if _query_matches(item, query[0])]
                found += [[*prefix, i] for i in (hits if query[1] else hits[:1])]
        paths = found
    return paths


def _step(node: Any, key: str | int) -> Any:
    if isinstance(node, dict) and isinstance(key, str):
        return node.get(key, _MISSING)
    if isinstance(node, list):
        index = key if isinstance(key, int) else int(key) if str(key).lstrip("-").isdigit() else None
        if index is not None and -len(node) <= index < len(node):
            return node[index]
    return _MISSING


def _walk(node: Any, keys: Iterable[str | int]) -> Any:
    for key in keys:
        node = _step(node, key)
        if node is _MISSING:
            return _MISSING
    return node


def get(body: Any, path: str) -> Any:
    """The value at ``path`` (the first match), or ``_MISSING``."""
    for keys in resolve(body, path):
        value = _walk(body, keys)
        if value is not _MISSING:
            return value
    return _MISSING


def _index(key: str | int) -> int | None:
    return key if isinstance(key, int) else int(key) if key.lstrip("-").isdigit() else None


def _set(body: dict[str, Any], keys: list[str | int], value: Any) -> None:
    """sjson's set: missing objects are made; ``-1`` (or the length) on an array appends."""
    node: Any = body
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        if isinstance(node, list):
            index = _index(key)
            if index is None or not -1 <= index <= len(node):
                return
            if index in (-1, len(node)):
                node.append(value if last else {})
                node = node[-1]
                continue
            if last:
                node[index] = value
                return
            node = node[index]
            continue
        if not isinstance(node, dict):
            return
        if last:
            node[str(key)] = value
            return
        if not isinstance(node.get(str(key)), dict | list):
            node[str(key)] = {}
        node = node[str(key)]


def _delete(body: Any, keys: list[str | int]) -> None:
    parent = _walk(body, keys[:-1])
    key = keys[-1]
    if isinstance(parent, dict):
        parent.pop(str(key), None)
    elif isinstance(parent, list) and (index := _index(key)) is not None and -len(parent) <= index < len(parent):
        del parent[index]


# ---- matching ----------------------------------------------------------------------------------

def wildcard(pattern: str, value: str) -> bool:
    """CLIProxyAPI's pattern match: ``*`` is any run of characters, nothing else is special."""
    pattern, value = pattern.strip(), value.strip()
    if not pattern:
        return False
    regex = ".*".join(re.escape(piece) for piece in pattern.split("*"))
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _from_protocol(name: str) -> str:
    name = name.strip().lower()
    return "responses" if name in ("openai-response", "openai-responses", "response") else name


def _headers_match(wanted: Iterable[tuple[str, str]], headers: Mapping[str, str]) -> bool:
    lowered = {name.lower(): value for name, value in headers.items()}
    return all(name.lower() in lowered and wildcard(pattern, lowered[name.lower()])
               for name, pattern in wanted if name.strip())


def _equals(body: Any, path: str, value: Any) -> bool:
    return any(_walk(body, keys) == value for keys in resolve(body, path) if _walk(body, keys) is not _MISSING)


def _exists(body: Any, path: str) -> bool:
    return any(_walk(body, keys) not in (_MISSING, None) for keys in resolve(body, path))


def _body_conditions(condition: ModelCondition, body: Any) -> bool:
    return (all(_equals(body, path, value) for path, value in condition.match)
            and not any(_equals(body, path, value) for path, value in condition.not_match)
            and all(_exists(body, path) for path in condition.exist)
            and not any(_exists(body, path) for path in condition.not_exist))


def _condition_holds(condition: ModelCondition, model: str, facts: RequestFacts, body: Any) -> bool:
    if not condition.name.strip() or (condition.protocol.strip() and condition.protocol.strip().lower() != "codex"):
        return False
    wanted = _from_protocol(condition.from_protocol)
    return ((not wanted or wanted == facts.from_protocol)
            and _headers_match(condition.headers, facts.headers)
            and wildcard(condition.name, model) and _body_conditions(condition, body))


def applies(rule: Rule, facts: RequestFacts, body: Any) -> bool:
    return any(_condition_holds(c, model, facts, body) for model in facts.models for c in rule.models)


# ---- the rules of a config ---------------------------------------------------------------------

def _pairs(items: Any) -> tuple[tuple[str, Any], ...]:
    """``[{path: value}, …]`` (or one mapping) as (path, value) pairs."""
    maps = items if isinstance(items, list) else [items]
    return tuple((str(path), value) for entry in maps if isinstance(entry, Mapping)
                 for path, value in entry.items() if str(path).strip())


def _strings(items: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in items if str(item).strip()) if isinstance(items, list) else ()


def _condition(entry: Mapping[str, Any]) -> ModelCondition:
    headers = entry.get("headers")
    return ModelCondition(
        name=str(entry.get("name") or ""), protocol=str(entry.get("protocol") or ""),
        from_protocol=str(entry.get("from-protocol") or ""),
        headers=tuple((str(k), str(v)) for k, v in headers.items()) if isinstance(headers, Mapping) else (),
        match=_pairs(entry.get("match") or []), not_match=_pairs(entry.get("not-match") or []),
        exist=_strings(entry.get("exist")), not_exist=_strings(entry.get("not-exist")))


def _raw(value: Any) -> Any:
    """A ``-raw`` value: JSON text (other values are taken as they are); ``_MISSING`` when unreadable."""
    if not isinstance(value, str):
        return _MISSING if value is None else value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return _MISSING


def _params(kind: str, params: Any) -> tuple[tuple[str, Any], ...]:
    if kind == "filter":
        return tuple((path, None) for path in _strings(params))
    if not isinstance(params, Mapping):
        return ()
    pairs = ((str(path), _raw(value) if kind.endswith("-raw") else value) for path, value in params.items())
    return tuple((path, value) for path, value in pairs if path.strip() and value is not _MISSING)


def parse_rules(payload: Mapping[str, Any]) -> tuple[Rule, ...]:
    """The config's ``payload`` section as rules, in the order they run (kind by kind, then as written)."""
    rules: list[Rule] = []
    for kind in KINDS:
        for entry in payload.get(kind) or ():
            if not isinstance(entry, Mapping):
                continue
            models = tuple(_condition(m) for m in entry.get("models") or () if isinstance(m, Mapping))
            rules.append(Rule(kind, models, _params(kind, entry.get("params"))))
    return tuple(rule for rule in rules if rule.models and rule.params)


_parsed: tuple[Mapping[str, Any], tuple[Rule, ...]] | None = None


def rules_of(payload: Mapping[str, Any]) -> tuple[Rule, ...]:
    """``parse_rules``, once per config snapshot (the snapshot's mapping is kept as the cache key)."""
    global _parsed
    if not payload:
        return ()
    if _parsed is None or _parsed[0] is not payload:
        _parsed = (payload, parse_rules(payload))
    return _parsed[1]


# ---- applying them -----------------------------------------------------------------------------

def _apply_one(rule: Rule, out: dict[str, Any], source: Mapping[str, Any], defaulted: set[str]) -> None:
    for path, value in rule.params:
        resolved = resolve(out, path)
        if rule.kind == "filter":
            for keys in reversed(resolved):
                _delete(out, keys)
            continue
        for keys in resolved:
            if rule.kind.startswith("default"):
                name = ".".join(map(str, keys))
                if name in defaulted or _walk(source, keys) is not _MISSING:
                    continue
                defaulted.add(name)
            _set(out, keys, copy.deepcopy(value))


def apply_rules(rules: Iterable[Rule], body: Mapping[str, Any], facts: RequestFacts) -> dict[str, Any]:
    """``body`` with every matching rule applied, on a deep copy (the body is shared between attempts);
    a body no rule matches is returned as a shallow copy."""
    out = dict(body)
    copied = False
    defaulted: set[str] = set()
    for rule in rules:
        if not applies(rule, facts, out):
            continue
        if not copied:
            out, copied = copy.deepcopy(out), True
        _apply_one(rule, out, body, defaulted)
    return out


def request_facts(models: Iterable[str], dialect: str, headers: Mapping[str, str]) -> RequestFacts:
    """The facts of one attempt: candidate model names (duplicates dropped, the first kept)."""
    seen: dict[str, str] = {}
    for name in models:
        if name.strip():
            seen.setdefault(name.strip().lower(), name.strip())
    return RequestFacts(tuple(seen.values()), FROM_PROTOCOL.get(dialect, dialect), headers)


__all__ = ["KINDS", "RequestFacts", "Rule", "apply_rules", "parse_rules", "request_facts", "resolve",
           "rules_of", "wildcard"]
