"""Client dialects: pure translations between a client API and the Codex Responses stream.

Each dialect exports one ``Dialect`` table (``base``): its request translation, its stream
translator and its non-streaming renderer. ``openai_chat``, ``anthropic`` and ``gemini`` are
packages split by direction; ``openai_responses`` (a pass-through) and ``completions`` (legacy
Completions on top of Chat) are single modules. ``names`` shortens tool names for all of them;
``tokens`` counts tokens locally for the count-tokens routes.

A translator takes dicts and returns dicts or bytes: it imports no I/O library, no credentials,
no config, no pool and no server (``tests/test_architecture.py`` checks), so it is tested with
plain data and fuzzed with hypothesis.
"""
