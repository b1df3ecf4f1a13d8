"""Driving ``CodexUpstream`` from a test: one streamed request, its event types."""

from __future__ import annotations

from typing import Any

from cliproxy.config.load import parse_config
from cliproxy.credential import Credential
from cliproxy.upstream.codex import CodexUpstream
from cliproxy.upstream.request import UpstreamRequest


async def event_types(config: dict[str, Any], base_url: str, proxy_url: str = "") -> list[str]:
    """The types of the events one request through a fresh ``CodexUpstream`` (built from ``config``)
    reads, for an account at ``base_url`` with its own ``proxy_url``."""
    upstream = CodexUpstream(parse_config(config))
    account = Credential(id="a.json", kind="oauth", access_token="tok-a", base_url=base_url, account_id="acc-1",
                         proxy_url=proxy_url)
    request = UpstreamRequest(body={"input": "hi"}, model="gpt-5.4", dialect="openai-responses")
    try:
        async with upstream.stream(account, request) as opened:
            return [event["type"] async for batch in opened.batches() for event, _ in batch]
    finally:
        await upstream.aclose()
