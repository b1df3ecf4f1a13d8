"""Client keys and their limits: who may use the proxy, for which models, and how much.

``model`` turns the config's ``api-keys`` and ``client-keys`` into a :class:`KeyRing` that finds the
key a client presented; ``windows`` is the arithmetic of rolling and calendar windows; ``counters``
holds what each key used, behind the :class:`KeyCounters` interface, with an embedded implementation
whose state survives a restart; ``policy`` applies a key's allowed models, effort cap and limits to
one request. Nothing here knows a dialect, the server or the accounts: the server hands in a model
name, an effort and a token estimate, and renders what is refused.
"""
