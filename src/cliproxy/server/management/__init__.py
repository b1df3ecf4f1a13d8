"""The management API (``/v0/management``): accounts, settings, logins, logs and usage.

Entry point: :class:`cliproxy.server.management.app.ManagementApp`, one ASGI app — the guard, then a
router over the endpoint modules. Only the server's composition root imports ``app``
(``cliproxy.server.app.management_api``), and builds the app on the first management request.

What the server builds at start and hands in:

- ``common.ManagementContext`` — the snapshot holder, pool, refresh schedule, reloader, usage history
  and request logs the endpoints act on (the only collaborators; no module here reaches for more);
- ``login.Logins`` — pending browser logins, also answering ``/codex/callback`` at the server's root;
- ``logs.LogBuffer`` — the recent application log lines, fed from start so they are there to read.

The modules, one job each:

- ``app``      the guard in front of the router; the whole-config and usage endpoints
- ``guard``    who may call: secret, loopback or ``allow-remote``, bans after wrong keys
- ``common``   the context, JSON answers, ``BadBody``, masking, config-file edits through the reloader
- ``settings`` config settings, one key at a time
- ``files``    account files: list, upload, download, delete, status and fields; models per account
- ``login``    adding an account by browser login, driven over HTTP
- ``logs``     recent log lines and request/error log files
"""
