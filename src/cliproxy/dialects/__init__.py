"""Client dialects: pure translations between a client API and the Codex Responses stream."""
