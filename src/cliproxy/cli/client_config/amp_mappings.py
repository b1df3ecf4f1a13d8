"""The ``ampcode.model-mappings`` that ``setup amp`` adds to cliproxy's own config file, so the Claude
models classic Amp asks for are served by the pool.

Amp's default ("smart") mode asks for Claude Opus, its "rush" mode and its thread titles for Claude
Haiku. Without a mapping, and without an Amp upstream to forward them to, each of those calls is
refused, and only "deep" mode (OpenAI models) works: pointing Amp here is not finished until they
are mapped. One anchored, case-insensitive regular expression per family keeps working when Amp
moves to a newer Claude version.

The user's own entries always win: a family one of them already maps is left alone (and named), new
entries are appended after theirs, and the file is edited through the same round-trip YAML writer
the management API uses, so comments, key order and quoting survive. The running server watches the
file and applies the change on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cliproxy.amp.mapping import ModelMapper, split_suffix
from cliproxy.cli.client_config.facts import ServerFacts, claude_families
from cliproxy.cli.client_config.files import FileEdit, read_text
from cliproxy.config import edit as config_edit
from cliproxy.config.ampcode import ModelMapping
from cliproxy.config.load import checked_mapping, parse_config, parse_yaml
from cliproxy.config.schema import Config, ConfigError
from cliproxy.observe.logs import known_secrets

SECTION, KEY, LEGACY_KEY = "ampcode", "model-mappings", "amp-model-mappings"
SETTLED = "already maps Amp's Claude models"


@dataclass(frozen=True)
class Family:
    """A Claude model family Amp asks for: the entry added for it, and the names classic Amp builds
    are known to send (a family is left alone when the user's entries already map all of them)."""

    name: str
    pattern: str
    sent: tuple[str, ...]


FAMILIES = (Family("opus", "^claude-opus", ("claude-opus-4-6", "claude-opus-4-7")),
            Family("sonnet", "^claude-sonnet", ("claude-sonnet-4-5", "claude-sonnet-4-6")),
            Family("haiku", "^claude-haiku", ("claude-haiku-4-5-20251001",)))


@dataclass(frozen=True)
class Choice:
    """One entry to add: the family, the served model it maps to, and why that model."""

    family: Family
    model: str
    why: str


@dataclass(frozen=True)
class MappingsPlan:
    """What ``setup amp`` shows and writes for cliproxy's config; ``edit`` is None when the file
    cannot be edited (``notes`` say why)."""

    path: Path
    added: tuple[Choice, ...]
    edit: FileEdit | None
    notes: tuple[str, ...]

    @property
    def show(self) -> str:
        """The entries added, as they land in the file (after any entries of the user's)."""
        if not self.added:
            return f"{self.path} (cliproxy's config): {SETTLED}"
        return f"{self.path} (cliproxy's config, appended to Amp's model mappings):\n" + merged("", self.added).rstrip()


def choices(facts: ServerFacts) -> tuple[Choice, ...]:
    """The served model for each family, with the reason said to the user."""
    families = claude_families(facts)
    if not families:
        return ()
    opus, sonnet, haiku = families["opus"], families["sonnet"], families["haiku"]
    why = {"opus": "the first model listed, the strongest",
           "sonnet": "the next full-size model" if sonnet != opus else "the only full-size model",
           "haiku": "the first small model" if "mini" in haiku else "no small model is listed: the last one"}
    return tuple(Choice(family, families[family.name], why[family.name]) for family in FAMILIES)


def _kept(mappings: tuple[ModelMapping, ...], served: tuple[str, ...]) -> tuple[set[str], tuple[str, ...]]:
    """The families the user's entries already map whole, and a sentence for each name they map."""
    mapper = ModelMapper.build(mappings, warn=lambda _: None)
    mapped: set[str] = set()
    said: list[str] = []
    for family in FAMILIES:
        targets = {name: mapper.lookup(name, lambda _: True) for name in family.sent}
        if all(targets.values()):
            mapped.add(family.name)
        said += [_kept_sentence(name, target, served) for name, target in targets.items() if target]
    return mapped, tuple(said)


def _kept_sentence(name: str, target: str, served: tuple[str, ...]) -> str:
    unserved = "" if split_suffix(target)[0] in served else f" ({target} is not served here, so it is ignored)"
    return f"{name} is already mapped to {target}: kept{unserved}"


def _entry(choice: Choice) -> Any:
    """``{from: "^claude-opus", to: gpt-5.5, regex: true}``, one line, as the docs write them."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    entry = CommentedMap([("from", DoubleQuotedScalarString(choice.family.pattern)), ("to", choice.model),
                          ("regex", True)])
    entry.fa.set_flow_style()
    return entry


def _mapping_list(doc: Any) -> Any:
    """The list Amp's mappings are read from: ``ampcode.model-mappings``, else the old flat
    ``amp-model-mappings`` when only it is set (a new section key would hide it); created when neither is."""
    from ruamel.yaml.comments import CommentedSeq

    section = doc.get(SECTION)
    own = section.get(KEY) if isinstance(section, dict) else None
    if isinstance(own, list):
        return own
    legacy = doc.get(LEGACY_KEY)
    if isinstance(legacy, list) and not (isinstance(section, dict) and KEY in section):
        return legacy
    config_edit.set_key(doc, (SECTION, KEY), CommentedSeq())
    return doc[SECTION][KEY]


def merged(text: str, added: tuple[Choice, ...], source: str = "config") -> str:
    """The config text with ``added`` appended to Amp's mappings; ``text`` itself when there is
    nothing to add. Raises ``ConfigError`` when the file cannot be edited or the result does not load."""
    if not added:
        return text
    doc = config_edit.load_document(text, source)
    _mapping_list(doc).extend(_entry(choice) for choice in added)
    after = config_edit.dump_document(doc, like=text)
    parse_config(checked_mapping(parse_yaml(after, source))[0], source)
    return after


def _notes(added: tuple[Choice, ...], kept: tuple[str, ...], facts: ServerFacts, config: Config) -> tuple[str, ...]:
    notes = [f"maps {c.family.pattern} → {c.model}: {c.why}" for c in added]
    notes += [f"Mapping targets chosen from {facts.source}."] if added else []
    notes += kept
    if added and kept:
        notes.append("Your own entries stay first and win over the added ones.")
    if added and config.ampcode.upstream_url:
        notes.append("ampcode.upstream-url is set: with these mappings Amp's Claude models are served by this "
                     "pool instead of ampcode.com (no Amp credits); run with --no-mappings to keep forwarding them.")
    if added:
        notes.append("The running server applies the config change by itself: no restart is needed.")
    return tuple(notes)


def plan(facts: ServerFacts, path: Path, config: Config) -> MappingsPlan:
    """The mappings missing from the config at ``path`` (``config`` is that file as loaded)."""
    target = path.resolve() if path.is_symlink() else path  # a symlinked config stays a symlink
    before = read_text(target)
    mapped, kept = _kept(config.ampcode.model_mappings, facts.model_ids)
    added = tuple(c for c in choices(facts) if c.family.name not in mapped)
    notes = _notes(added, kept, facts, config)
    if not added:
        unchanged = FileEdit(target, before, before, settled=SETTLED) if before is not None and kept else None
        return MappingsPlan(target, added, unchanged, notes or ("no served model to map Amp's Claude models to",))
    try:
        after = merged(before or "", added, str(path))
    except ConfigError as exc:
        return MappingsPlan(target, added, None, (*notes, f"cannot add the mappings to {path}: {exc}"))
    hidden = tuple(known_secrets(config))
    return MappingsPlan(target, added, FileEdit(target, before, after, hidden, SETTLED), notes)


__all__ = ["FAMILIES", "SETTLED", "Choice", "Family", "MappingsPlan", "choices", "merged", "plan"]
