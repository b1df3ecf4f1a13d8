"""Fakes of the real endpoints (Codex backend, OpenAI issuer, ampcode.com), on loopback sockets."""
