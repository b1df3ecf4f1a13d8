"""What one attempt asks of the Codex backend, and the body and headers built from it.

``UpstreamRequest`` is the whole seam between the runner and the upstream client: a Responses
body and the few facts that shape it (the account's model name, the client's dialect and
headers, the prompt-cache key, the snapshot's header and image-tool settings). The upstream
builds the wire request from it and the credential; it never sees a dialect or a config object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cliproxy.credential import Credential
from cliproxy.errors import bad_request
from cliproxy.responses.blob import looks_like_codex_blob
from cliproxy.upstream.payload import Rule, apply_rules, request_facts

DEFAULT_USER_AGENT = "codex-tui/0.135.0 (Mac OS 26.5.0; arm64) iTerm.app/3.6.10 (codex-tui; 0.135.0)"
DEFAULT_ORIGINATOR = "codex-tui"

# Client headers forwarded unchanged: the ones Codex CLI (0.169) sends to keep its session,
# subagent and feature flags visible to the backend.
PASS_THROUGH_HEADERS = frozenset(
    {
        "session_id",
        "session-id",
        "conversation_id",
        "thread-id",
        "x-client-request-id",
        "x-openai-subagent",
        "openai-beta",
        "version",
        "originator",
        "x-openai-internal-codex-responses-lite",
        "x-responsesapi-include-timing-metrics",
    }
)
PASS_THROUGH_PREFIXES = ("x-codex-",)
NEVER_FORWARD = frozenset({"authorization", "x-api-key", "cookie", "host", "x-goog-api-key"})

# Fields the backend rejects, or that mean nothing when nothing is stored upstream (store: false).
ALWAYS_REMOVED = ("previous_response_id", "prompt_cache_retention", "safety_identifier", "stream_options")
IMAGE_TOOL: dict[str, Any] = {"type": "image_generation", "output_format": "png"}
# Dialects whose requests get the hosted image tool; never a Responses client's own request.
IMAGE_TOOL_DIALECTS = frozenset({"openai", "completions", "claude", "gemini"})


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamRequest:
    """One attempt's request, in Responses terms only; built per account (the model name may differ).

    ``body`` is shared with the caller and copied before any change. ``by_name_only`` names the
    events whose JSON nobody will read, so the stream reader skips parsing them.
    """

    body: Mapping[str, Any]
    model: str  # the name the serving account knows the model by
    dialect: str  # the client's dialect: decides whether the hosted image tool is offered
    client_headers: Mapping[str, str] = field(default_factory=dict)
    prompt_cache_key: str | None = None  # sent as ``session_id`` when the client sent none
    by_name_only: frozenset[bytes] = frozenset()
    user_agent: str = ""  # the configured Codex user agent; wins over the client's for OAuth accounts
    image_generation: bool = True  # False when the config turns the hosted image tool off
    payload_rules: tuple[Rule, ...] = ()  # the config's ``payload`` rules (upstream/payload.py)
    requested_model: str = ""  # the model as the client named it, which payload rules may match too
    forwarded: Mapping[str, str] | None = None  # forwarded_headers(client_headers), when already worked out


def forwarded_headers(client_headers: Mapping[str, str]) -> dict[str, str]:
    """The client headers that pass through to the backend unchanged."""
    out: dict[str, str] = {}
    for name, value in client_headers.items():
        lowered = name.lower()
        if lowered in NEVER_FORWARD:
            continue
        if lowered in PASS_THROUGH_HEADERS or lowered.startswith(PASS_THROUGH_PREFIXES):
            out[lowered] = value
    return out


def _unsendable(value: str) -> str | None:
    """Why ``value`` cannot be a header value on the wire, or None when it can."""
    if "\r" in value or "\n" in value or "\0" in value:
        return "a line break or NUL"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "a character outside Latin-1"
    return None


def check_client_headers(client_headers: Mapping[str, str], prompt_cache_key: str | None) -> dict[str, str]:
    """Every client-derived value that becomes an upstream header, checked once per client request;
    the headers that pass through, for every attempt to reuse (``UpstreamRequest.forwarded``).

    A value the wire cannot carry is the request's fault (a 400 naming the field), never an
    account's: left to the transport it would fail every attempt, and a CR/LF could split the request.
    """
    forwarded = forwarded_headers(client_headers)
    values = dict(forwarded)
    values["user-agent"] = client_headers.get("user-agent", "")
    if prompt_cache_key is not None:
        values["prompt_cache_key"] = prompt_cache_key
    for name, value in values.items():
        why = _unsendable(value)
        if why is not None:
            raise bad_request(f"`{name}` contains {why}, which cannot be sent upstream as a header",
                              code="invalid_header_value")
    return forwarded


def build_headers(credential: Credential, request: UpstreamRequest, accept: str = "text/event-stream",
                  ) -> dict[str, str]:
    """The client's own values win over defaults; the credential's headers are applied last."""
    headers = forwarded_headers(request.client_headers) if request.forwarded is None else dict(request.forwarded)
    headers["content-type"] = "application/json"
    headers["accept"] = accept
    headers["accept-encoding"] = "identity"  # SSE: every event as it comes, no decompression pass
    headers["authorization"] = f"Bearer {credential.access_token}"
    client_ua = request.client_headers.get("user-agent", "")
    if credential.kind == "oauth":
        headers["user-agent"] = request.user_agent or client_ua or DEFAULT_USER_AGENT
        headers.setdefault("originator", DEFAULT_ORIGINATOR)
        if credential.account_id:
            headers["chatgpt-account-id"] = credential.account_id
    else:
        headers["user-agent"] = client_ua or DEFAULT_USER_AGENT
    if request.prompt_cache_key and "session_id" not in headers and "session-id" not in headers:
        headers["session_id"] = request.prompt_cache_key
    for name, value in credential.headers:
        headers[name.lower()] = value
    return headers


def _strip_bad_reasoning_blobs(items: Iterable[Any]) -> None:
    """A reasoning item keeps its place, but an ``encrypted_content`` the backend would reject is dropped."""
    for item in items:
        if isinstance(item, dict) and item.get("type") == "reasoning" and "encrypted_content" in item:
            blob = item["encrypted_content"]
            if not (isinstance(blob, str) and looks_like_codex_blob(blob)):
                del item["encrypted_content"]


def wants_image_tool(credential: Credential, request: UpstreamRequest) -> bool:
    """Spark models and free plans have no image tool; a Responses client chooses its own tools."""
    return (
        request.dialect in IMAGE_TOOL_DIALECTS
        and request.image_generation
        and not request.model.endswith("spark")
        and credential.plan != "free"
    )


def _with_payload_rules(request: UpstreamRequest) -> dict[str, Any]:
    requested = request.requested_model
    base = requested.split("(", 1)[0] if requested.endswith(")") else requested
    facts = request_facts((request.model, base, requested), request.dialect, request.client_headers)
    return apply_rules(request.payload_rules, request.body, facts)


def prepare_body(credential: Credential, request: UpstreamRequest, stream: bool = True) -> dict[str, Any]:
    """The body as the backend accepts it, on a copy of the translated one (``payload`` rules first,
    as CLIProxyAPI applies them, so the fields forced below stay forced)."""
    out = _with_payload_rules(request) if request.payload_rules else dict(request.body)
    out["model"] = request.model
    if stream:
        out["stream"] = True
    else:
        out.pop("stream", None)
    for key in ALWAYS_REMOVED:
        out.pop(key, None)
    if out.get("instructions") is None:
        out["instructions"] = ""
    if wants_image_tool(credential, request):
        tools = list(out.get("tools") or [])
        if not any(isinstance(t, dict) and t.get("type") == "image_generation" for t in tools):
            tools.append(dict(IMAGE_TOOL))
        out["tools"] = tools
    if isinstance(out.get("input"), list):
        _strip_bad_reasoning_blobs(out["input"])
    return out


__all__ = ["UpstreamRequest", "build_headers", "check_client_headers", "forwarded_headers", "prepare_body",
           "wants_image_tool"]
