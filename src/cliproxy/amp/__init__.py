"""Amp support: its provider routes served by the pool, model mappings, the forward to ampcode.com
for what the pool cannot serve, and the control plane classic Amp calls (``/api/internal?<rpc>``).

The package's pure parts (``mapping``, ``sanitize``, ``rewrite``) load no I/O library; ``module``
holds the long-lived state (the settings snapshot, the secrets-file cache, the HTTP client);
``forward`` is the reverse proxy; ``provider``, ``control`` and ``routes`` are the web side.
"""
