"""Editing config.yaml in place: the user's comments, key order and quoting survive our writes.

The proxy writes its config file for two reasons: the management API persists a setting, and a
plaintext ``remote-management.secret-key`` is replaced by its bcrypt hash, as CPA does. Both go
through a ruamel round-trip document and an atomic replace, so an editor never sees half a file and a
symlinked config (dotfiles) stays a symlink to the file we rewrite.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cliproxy.auth.store import atomic_write
from cliproxy.config.load import check_aliases
from cliproxy.config.schema import ConfigError

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
SECRET_PATH = ("remote-management", "secret-key")
V8_SECRET_PATH = ("management", "secret-key")
_INDENTED_DASH = re.compile(r"^[ ]+- ", re.MULTILINE)


def is_bcrypt_hash(value: str) -> bool:
    return value.startswith(BCRYPT_PREFIXES)


def hash_secret(secret: str) -> str:
    """bcrypt with the library's default cost, as CPA does; slow on purpose (run it in a thread).

    bcrypt is imported here and in ``management_guard``, not at the top: a server without a
    management key never loads it."""
    import bcrypt

    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt()).decode()


def _yaml(text: str) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 4096
    if _INDENTED_DASH.search(text):
        yaml.indent(mapping=2, sequence=4, offset=2)  # keep the common "  - item" list style
    return yaml


def load_document(text: str, source: str = "config") -> Any:
    """A round-trip document (a mapping); an empty file is an empty mapping."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    check_aliases(text, source)
    try:
        doc = _yaml(text).load(text)
    except YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if doc is None:
        return CommentedMap()
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    return doc


def dump_document(doc: Any, like: str = "") -> str:
    """Serialise ``doc`` in the list style of ``like`` (the text it was loaded from)."""
    out = io.StringIO()
    _yaml(like).dump(doc, out)
    return out.getvalue()


def get_key(doc: Any, path: Sequence[str], default: Any = None) -> Any:
    node = doc
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def set_key(doc: Any, path: Sequence[str], value: Any) -> None:
    """Set a nested key, creating the parent mappings it needs."""
    from ruamel.yaml.comments import CommentedMap

    node = doc
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = CommentedMap()
            node[key] = child
        node = child
    node[path[-1]] = value


def delete_key(doc: Any, path: Sequence[str]) -> None:
    parent = get_key(doc, path[:-1]) if len(path) > 1 else doc
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def write_text(path: Path, text: str) -> bytes:
    """Replace the file atomically (temp file, fsync, rename), keeping its mode (0600 when new).

    A symlink is followed, so the link keeps pointing at the rewritten file.
    """
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    data = text.encode("utf-8")
    atomic_write(target, data, mode)
    return data


def with_hashed_secret(text: str, hashed: str, source: str = "config") -> str:
    """The same config text with ``remote-management.secret-key`` replaced by ``hashed`` (in a
    CLIProxyAPI v8 file, ``management.secret-key``, whose value wins over the v7 spelling)."""
    doc = load_document(text, source)
    set_key(doc, V8_SECRET_PATH if get_key(doc, V8_SECRET_PATH) is not None else SECRET_PATH, hashed)
    return dump_document(doc, like=text)


__all__ = [
    "BCRYPT_PREFIXES",
    "delete_key",
    "dump_document",
    "get_key",
    "hash_secret",
    "is_bcrypt_hash",
    "load_document",
    "set_key",
    "with_hashed_secret",
    "write_text",
]
