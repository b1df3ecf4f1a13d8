"""What ``cliproxy setup`` and ``cliproxy env`` know about each client: the settings that point it at
this server, and how to merge them into the client's own files without losing the user's.

Pure logic, no click: ``facts`` gathers what the server offers (address, key, served models),
``files`` turns a wanted change into a diff, a backup and an atomic write, and one module per
client (``claude``, ``codex``, ``amp``, ``cursor``, ``openai``) turns the facts into a ``Plan``.
``clients.PLANS`` is the table the commands use.
"""
