"""The live HTTP/2 connections per origin, shared by every request of the direct transport."""

from __future__ import annotations

import time

from cliproxy.upstream.transport.body import PoolKey
from cliproxy.upstream.transport.http2 import Http2Connection


class Http2Pool:
    """The live HTTP/2 connections per origin. A request takes the first with a free stream;
    expired ones are closed, and closed or going-away ones dropped, as the search meets them."""

    def __init__(self) -> None:
        self._connections: dict[PoolKey, list[Http2Connection]] = {}

    def add(self, connection: Http2Connection) -> None:
        self._connections.setdefault(connection.key, []).append(connection)

    def pick(self, key: PoolKey) -> Http2Connection | None:
        connections = self._connections.get(key)
        if not connections:
            return None
        now, found, dead = time.monotonic(), None, False
        for connection in connections:
            if connection.expired(now):
                connection.close()
            if not connection.reusable:
                dead = True
            elif found is None and connection.available:
                found = connection
        if dead:
            connections[:] = [connection for connection in connections if connection.reusable]
        return found

    def close(self) -> None:
        for connections in self._connections.values():
            for connection in connections:
                connection.close()
        self._connections.clear()
