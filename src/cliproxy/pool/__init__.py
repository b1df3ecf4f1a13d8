"""The pool of accounts: which one serves the next request, which rest and why, and what Codex CLI sees.

Modules and their jobs:

- ``core``: ``Pool``, the one object the rest of the program holds: ``pick`` an account, ``record``
  the outcome, ``observe_*`` quota signals, and the views and state file built from its data.
- ``selection``: ``Selector``, the O(log n) choice among one candidate set by strategy and priority.
- ``cooldown``: the ``COOLDOWNS`` table from ``Outcome`` to ``Rule``, the backoff, the reason text
  and ``AccountState``, what the pool knows about one account beyond its file.
- ``affinity``: session ids and the table that keeps a conversation on the account with its cache.
- ``quota``: the backend's quota reports (headers, ``codex.rate_limits`` events, ``wham/usage``
  bodies) read into ``Report``, ``Family`` and ``Window``.
- ``quota_view``: ``AccountQuota`` (one account's windows), and ``PoolQuota``, the pool as one account.
- ``views``: status rows, the reasons nothing can be picked, the pool and account quota views.
- ``shortage``: ``Exhausted`` and the message that says who rests until when.
- ``poller``: reads ``wham/usage`` per account in the background and on demand.
- ``store``: where pool state lives between restarts (a state file by default) and its encoding.
"""
