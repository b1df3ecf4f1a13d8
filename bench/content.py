"""Deterministic answer text, cut into deltas the way a model streams tokens.

Every request carries ``bench-seed:<n>`` in its prompt; the fake answers with variant ``n % VARIANTS``
and the load generator knows, from the same seed, the exact text it must receive. Variants differ so
that two streams mixed up by a proxy cannot pass the check. The fragments hold what breaks naive
JSON and SSE handling: quotes, backslashes, newlines, tabs, non-ASCII and astral-plane characters.
"""

from __future__ import annotations

import random
from functools import cache

VARIANTS = 16
SEED_MARKER = b"bench-seed:"

_FRAGMENTS: tuple[str, ...] = (
    "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".",
    " Here", "'s", " a", " path", ": ", "C:\\Users\\bench\\file.txt", " and", " a", " regex", " `\\d+`",
    ' "quoted"', " word", ",", " a", " JSON", " string", ' {"key": "va\\"lue"}', "\n",
    "\n\n", "```python", "\n", "def", " f", "(x", "):", "\n", "    ", "return", " x", " *", " 2",
    "\n", "```", "\n", " naïve", " café", " über", " Straße", " 日本語", " の", " テキスト",
    " 🚀", " ✓", " —", " «", "ç", "a", " va", "»", "\t", "tab", "\r\n", " 1", "0", "0", "%",
    " </script>", " &amp;", " data: not-a-frame", "\n\n", "event: nope", " \\n", " \\\\", " \\u00e9",
)


def seed_text(seed: int) -> str:
    """The prompt fragment that tells the fake which variant to answer."""
    return f"bench-seed:{seed}"


@cache
def deltas(variant: int, count: int) -> tuple[str, ...]:
    """The ``count`` text deltas of one variant: same inputs, same deltas, in every process."""
    rng = random.Random(variant * 7919 + count)
    return tuple(rng.choice(_FRAGMENTS) for _ in range(count))


@cache
def expected_text(seed: int, count: int) -> str:
    """What a client must receive, byte for byte, for the request with this seed."""
    return "".join(deltas(seed % VARIANTS, count))


def parse_seed(body: bytes) -> int:
    """Find the seed in a request body of any dialect (it survives every translation as text)."""
    start = body.find(SEED_MARKER)
    if start < 0:
        return 0
    pos = start + len(SEED_MARKER)
    end = pos
    while end < len(body) and 48 <= body[end] <= 57:
        end += 1
    return int(body[pos:end]) if end > pos else 0
