"""A config edited in the page, checked before it is saved: valid or why not, its diff, what needs a restart.

The check is the save's own, run without writing: secrets sent back masked are restored from the file,
the management API's refusals apply (where tokens are sent), and the text is parsed and checked
against how the server listens exactly as a reload does. Saving stays the management API's
``PUT /config.yaml``, which writes atomically through the config editor with comments kept.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from cliproxy.config import edit as config_edit
from cliproxy.config.exposure import check_exposure
from cliproxy.config.reload import RESTART_ONLY, parse_config_text
from cliproxy.config.schema import ConfigError
from cliproxy.server.management.common import BadBody, ManagementContext, mask_document
from cliproxy.server.management.moves import unmasked_upload

MAX_DIFF_LINES = 2000


def masked_text(text: str) -> str:
    """The config file as the page shows it: every secret masked, comments kept."""
    doc = config_edit.load_document(text)
    mask_document(doc)
    return config_edit.dump_document(doc, like=text)


def _diff(before: str, after: str) -> str:
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "running", "edited", lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"… {len(lines) - MAX_DIFF_LINES} more lines"]
    return "\n".join(lines)


def check(ctx: ManagementContext, proposed: str) -> dict[str, Any]:
    """``{"valid", "error", "diff", "restart"}`` for ``proposed`` (masked secrets allowed)."""
    current_text = ctx.reloader.config_text()
    try:
        shown = masked_text(current_text)
    except ConfigError:
        shown = ""
    answer: dict[str, Any] = {"valid": False, "error": "", "diff": _diff(shown, proposed), "restart": []}
    try:
        doc = config_edit.load_document(proposed, "edited config")
        text = unmasked_upload(ctx, doc, config_edit.load_document(current_text), proposed)
        config, _ = parse_config_text(text, "edited config", os.environ)
        check_exposure(config, ctx.reloader.bind_host)
    except (ConfigError, BadBody) as exc:
        answer["error"] = exc.message if isinstance(exc, BadBody) else str(exc)
        return answer
    running = ctx.config
    answer["restart"] = [key for name, key in RESTART_ONLY.items() if getattr(running, name) != getattr(config, name)]
    answer["valid"] = True
    return answer


__all__ = ["check", "masked_text"]
