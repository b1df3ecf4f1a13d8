"""The Responses event types the proxy itself acts on, named once.

A dialect reads whatever events it translates; these sets are the ones the request path needs
whatever the dialect: where a response ends, where it failed, which events carry no model output
(so a retried attempt's copies are not sent again), and the backend's quota report.
"""

from __future__ import annotations

# The response is over and carries its final state (output, usage).
TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete"})
# The backend reports a failure inside a 200 stream.
FAILURE_TYPES = frozenset({"error", "response.failed"})
# Events that carry no model output: a client may see them before an attempt fails over.
PREAMBLE_TYPES = frozenset({"codex.rate_limits", "codex.response.metadata", "response.created",
                            "response.in_progress", "response.queued"})
# The backend's quota report for the serving account.
RATE_LIMITS = "codex.rate_limits"
# A finished output item; ``response.completed`` often arrives with an empty ``output``.
OUTPUT_ITEM_DONE = "response.output_item.done"

__all__ = ["FAILURE_TYPES", "OUTPUT_ITEM_DONE", "PREAMBLE_TYPES", "RATE_LIMITS", "TERMINAL_TYPES"]
