"""The one way processes of this service open Redis."""

from __future__ import annotations

from arq.connections import ArqRedis

# Seconds a Redis command may take: without a limit, a connection that died without a word
# (a restarted or unreachable server) hangs its reader, and the worker with it. No command
# used here blocks on purpose.
REDIS_SOCKET_TIMEOUT = 15.0


def redis_client(redis_url: str) -> ArqRedis:
    """The Redis client of a worker or the API: bounded waits, one retry on a new
    connection after a timeout, and idle connections checked before use."""
    client: ArqRedis = ArqRedis.from_url(
        redis_url,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=5.0,
        retry_on_timeout=True,
        health_check_interval=30,
    )
    return client
