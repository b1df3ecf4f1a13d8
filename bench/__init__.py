"""The proxy's own cost, measured: a fake Codex upstream, a load generator, /proc sampling, a runner.

Run from the repository root: ``python -m bench`` (full run) or ``python -m bench --smoke``.
The fake upstream and the load generator are measurement tools, not the product, so they are
written for speed first (raw asyncio, hand-parsed HTTP/1.1) to stay out of the way of the figures.
"""
