"""cliproxy: a local OpenAI / Anthropic / Gemini API server backed by ChatGPT Codex accounts."""

import sys

__version__ = "0.1.0"

# httpx's __init__ imports its own command-line client (httpx._main), which loads click, rich and
# pygments whenever they are installed (click and rich are ours, for the CLI): ~2 MiB resident in the server for a
# CLI this program never runs. Marked absent, httpx falls back to its stub ``httpx.main``.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
