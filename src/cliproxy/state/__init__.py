"""The pool's shared facts behind one small interface, so several instances can serve one pool.

``base.py`` is the interface (``SharedState``): account rests and quota windows with their expiry,
session affinity, a round-robin turn, the single-writer refresh lease per account, instance
heartbeats and a usage feed. ``embedded.py`` serves one process from memory and file locks (the
default, no server needed); ``redis.py`` shares them between processes and hosts through Redis.
``build.py`` chooses one from the ``state:`` config section.

The package knows nothing of the pool, the auth flows or the server: it stores and announces plain
data under opaque names, and the pool's bridge (``pool/shared.py``) decides what the data means.
Client-key counters on Redis (``keys/redis_counters.py``) borrow ``RedisState``'s connection: they
belong to the keys package, whose counters interface they implement.
"""
