"""A catalogue from the config (``models.catalogue-file`` or ``models.catalogue``) in place of the bundled one.

A user whose accounts see a model the bundled list lacks, or who wants fewer, names the models
themselves: in a JSON file in the bundled format (``{"models": [...]}``, or just the list), or inline
under ``models.catalogue``. Each entry needs an ``id``; ``display_name``, ``created``,
``context_length``, ``max_completion_tokens``, ``levels``, ``description`` and ``plans`` (the plan
lists that see it; every plan when left out) are optional. It takes the bundled catalogue's place,
so live discovery still wins for an account whose backend answered it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from cliproxy.config.catalogue import Catalogue, bundled_catalogue, model_from_record


def _records(data: Any, source: str) -> list[Mapping[str, Any]]:
    records = data.get("models") if isinstance(data, Mapping) else data
    if not isinstance(records, list) or not records:
        raise ValueError(f"{source}: expected a non-empty list of models")
    for index, record in enumerate(records):
        if not isinstance(record, Mapping) or not str(record.get("id") or "").strip():
            raise ValueError(f"{source}[{index}]: each model needs an id")
    return records


def read_catalogue_file(path: str) -> list[Mapping[str, Any]]:
    """The model records of a catalogue file; a file that cannot be used raises ValueError saying why."""
    try:
        data = orjson.loads(Path(os.path.expanduser(path)).read_bytes())
    except OSError as exc:
        raise ValueError(f"catalogue-file: cannot read it ({exc.strerror})") from None
    except orjson.JSONDecodeError:
        raise ValueError("catalogue-file: not valid JSON") from None
    return _records(data, "catalogue-file")


def catalogue_from(records: Sequence[Mapping[str, Any]]) -> Catalogue:
    """The bundled catalogue with its models replaced by ``records``."""
    bundled = bundled_catalogue()
    every_plan = frozenset(bundled.plan_aliases.values()) | {bundled.default_plan}
    try:
        models = tuple(model_from_record(record) for record in records)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"catalogue: a model entry has a value of the wrong type ({exc})") from None
    plans = {str(r["id"]).lower(): frozenset(r["plans"]) if isinstance(r.get("plans"), list) else every_plan
             for r in records}
    return replace(bundled, models=models, plans_of=plans)


def configured_catalogue(inline: Sequence[Mapping[str, Any]], path: str) -> Catalogue | None:
    """The config's own catalogue (inline entries win over a file), or None to use the bundled one."""
    if inline:
        return catalogue_from(_records(list(inline), "catalogue"))
    if path:
        return catalogue_from(read_catalogue_file(path))
    return None


__all__ = ["catalogue_from", "configured_catalogue", "read_catalogue_file"]
