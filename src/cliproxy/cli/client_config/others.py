"""Clients with nothing to write here: Cursor (configured in its own window, and calling the server
from Cursor's machines, not this one) and the OpenAI SDKs (configured in code or the environment)."""

from __future__ import annotations

from cliproxy.cli.client_config.facts import ServerFacts
from cliproxy.cli.client_config.plan import Place, Plan

CURSOR_WARNING = (
    "Cursor calls the base URL from Cursor's own servers, not from this machine, so a loopback address does "
    "not work. Expose the server through a tunnel (e.g. `cloudflared tunnel --url {url}`), set `api-keys` in "
    "the config (never expose an open server), add the tunnel's host name to `allowed-hosts`, and use "
    "https://<tunnel-host>/v1 below.")


def cursor(facts: ServerFacts, place: Place) -> Plan:
    first = facts.model_ids[0] if facts.model_ids else "gpt-5.5"
    show = ("Cursor → Settings → Models:\n"
            f"  OpenAI API key:            {facts.key}\n"
            f"  Override OpenAI Base URL:  {facts.url}/v1   (through a tunnel: https://<tunnel-host>/v1)\n"
            f"  Add models:                {', '.join(facts.model_ids[:6]) or first}")
    return Plan("cursor", "Cursor", show, notes=(CURSOR_WARNING.format(url=facts.url),))


def openai(facts: ServerFacts, place: Place) -> Plan:
    first = facts.model_ids[0] if facts.model_ids else "gpt-5.5"
    env = (("OPENAI_BASE_URL", facts.url + "/v1"), ("OPENAI_API_KEY", facts.key))
    show = ("from openai import OpenAI\n"
            f"client = OpenAI(base_url=\"{facts.url}/v1\", api_key=\"{facts.key}\")\n"
            f"client.responses.create(model=\"{first}\", input=\"hi\")\n\n"
            f"or in the environment: OPENAI_BASE_URL={facts.url}/v1 OPENAI_API_KEY={facts.key}")
    notes = (f"Anthropic SDK: base_url=\"{facts.url}\"; Gemini SDK (google-genai): base_url=\"{facts.url}\", "
             "api_version=\"v1beta\"; the same key.",)
    return Plan("openai", "OpenAI SDKs", show, env, notes=notes)


__all__ = ["CURSOR_WARNING", "cursor", "openai"]
