"""Local token counting for the count_tokens routes (docs/routes.md, "Inference routes").

Counts with the ``o200k_base`` encoding for every Codex model, offline: the BPE tables ship inside
the installed ``bpe-openai`` package. They cost tens of MiB of memory, so nothing is loaded at
import time — the first count pays for it (a fraction of a second), a server that never counts
never does.

We load ``bpe_openai``'s Rust extension module directly instead of importing the package: the
package's ``__init__`` eagerly decodes all three bundled vocabularies into Python dicts (about
70 MiB and 0.4 s more) that we never use, and its tiktoken-style ``Encoding`` refuses texts over
one million characters or 200 000 tokens — a long Claude Code session is bigger than that. The
extension's ``count`` has neither cost nor limit. If the extension cannot be found that way we
fall back to the package's own import of it.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import threading
from pathlib import Path
from typing import Any, Protocol

from cliproxy.dialects.anthropic.request import dumps_text, translate_request

ENCODING = "o200k_base"


class _Tokenizer(Protocol):
    def count(self, text: str) -> int: ...


_lock = threading.Lock()
_tokenizer: _Tokenizer | None = None


def _extension_module() -> Any:
    """``bpe_openai._bindings`` without running ``bpe_openai/__init__.py``."""
    spec = importlib.util.find_spec("bpe_openai")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"_bindings{suffix}"
            if path.is_file():
                loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", str(path))
                module_spec = importlib.util.spec_from_loader(loader.name, loader)
                if module_spec is not None:
                    module = importlib.util.module_from_spec(module_spec)
                    loader.exec_module(module)
                    return module
    return importlib.import_module("bpe_openai._bindings")


def tokenizer() -> _Tokenizer:
    """The o200k tokenizer, loaded on first use (thread-safe: counts may run in a worker thread)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                try:
                    bindings = _extension_module()
                except ImportError:
                    bindings = importlib.import_module("bpe_openai._bindings")
                _tokenizer = bindings.tokenizer_for_encoding(ENCODING)
    return _tokenizer


def count_text(text: str) -> int:
    """o200k tokens in ``text``, special-token look-alikes counted as plain text."""
    if not text:
        return 0
    try:
        return tokenizer().count(text)
    except UnicodeEncodeError:  # lone surrogates from a lenient JSON parser
        return tokenizer().count(text.encode("utf-8", "replace").decode("utf-8"))


# --- what CPA counts in a Codex body -----------------------------------------------------------


def _part_texts(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]


def _item_texts(item: object) -> list[str]:
    if not isinstance(item, dict):
        return []
    kind = item.get("type")
    if kind == "function_call":
        return [v for v in (item.get("name"), item.get("arguments")) if isinstance(v, str)]
    if kind == "function_call_output":
        return _part_texts(item.get("output"))
    if kind == "message" or "content" in item:
        return _part_texts(item.get("content"))
    return [item["text"]] if isinstance(item.get("text"), str) else []


def _tool_texts(tool: object) -> list[str]:
    if not isinstance(tool, dict):
        return []
    texts = [v for v in (tool.get("name"), tool.get("description")) if isinstance(v, str)]
    if "parameters" in tool:
        texts.append(dumps_text(tool["parameters"]))
    return texts


def _format_texts(body: dict[str, Any]) -> list[str]:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return []
    texts = [fmt["name"]] if isinstance(fmt.get("name"), str) else []
    return texts + ([dumps_text(fmt["schema"])] if "schema" in fmt else [])


def codex_body_text(body: dict[str, Any]) -> str:
    """The newline-joined text CPA counts: instructions, input texts, tools, output format."""
    texts = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    items = body.get("input")
    for item in items if isinstance(items, list) else []:
        texts.extend(_item_texts(item))
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        texts.extend(_tool_texts(tool))
    texts.extend(_format_texts(body))
    return "\n".join(text for text in texts if text)


def count_codex_body_tokens(body: dict[str, Any]) -> int:
    """Tokens of a translated Codex body; images are not counted."""
    return count_text(codex_body_text(body))


def estimate_codex_body_tokens(body: dict[str, Any]) -> int:
    """About four characters a token: what a stream's ``message_start`` can report for free. A real
    count of a Claude Code prompt takes 10-30 ms of CPU before the request could leave and loads a
    70 MB encoding into every server that never counts otherwise; the backend's exact figure follows
    at the end of the stream anyway."""
    return (len(codex_body_text(body)) + 3) // 4


def count_anthropic_tokens(messages_request: dict[str, Any]) -> int:
    """``input_tokens`` for ``/v1/messages/count_tokens``; ``model`` may be absent."""
    return count_codex_body_tokens(translate_request(messages_request, {}).body)
