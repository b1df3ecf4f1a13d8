"""The hand-written HTTP/1.1 and HTTP/2 transport the Codex client sends through."""
