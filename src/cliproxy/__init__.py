"""cliproxy: a local OpenAI / Anthropic / Gemini API server backed by ChatGPT Codex accounts."""

__version__ = "0.1.0"
