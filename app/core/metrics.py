"""Counters and histograms in Redis, so that `/metrics` is right with any number of API and
worker processes on any number of machines: every process adds to the same hashes, and any
API process reads them all at scrape time.

One hash per metric (`qbo:metrics:<name>`), one field per label set (and per histogram
bucket). Recording never raises: a metric is not worth failing a sync for.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

logger = logging.getLogger(__name__)

PREFIX = "qbo:metrics:"
# Seconds; QBO answers in tens to hundreds of milliseconds, a timeout takes 30 s.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class Counter:
    name: str
    help: str
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Histogram:
    name: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = LATENCY_BUCKETS


EVENTS_INGESTED = Counter(
    "qbo_sync_events_ingested_total", "Events accepted at intake, by type.", ("type",)
)
SYNC_OUTCOMES = Counter(
    "qbo_sync_sync_outcomes_total",
    "Outcomes of sync attempts: synced, retrying, dead, waiting_connection, deferred;"
    " category is the error category (none when synced).",
    ("result", "category"),
)
QBO_REQUESTS = Counter(
    "qbo_sync_qbo_requests_total",
    "Requests sent to the QBO Accounting API, by endpoint and HTTP status (none: no answer).",
    ("endpoint", "status"),
)
QBO_THROTTLED = Counter(
    "qbo_sync_qbo_throttled_total", "429 answers from QBO (each pauses its realm).", ()
)
QBO_LATENCY = Histogram(
    "qbo_sync_qbo_request_seconds", "Latency of QBO Accounting API requests.", ("endpoint",)
)
QBO_CALLS = Counter(
    "qbo_sync_qbo_calls_total",
    "Calls to QBO by how Intuit meters them (kind: read, write, oauth) and why a read was"
    " made (purpose; empty for writes and OAuth).",
    ("kind", "purpose"),
)
QBO_READS_WAITING = Counter(
    "qbo_sync_qbo_reads_held_total",
    "Reads not sent because the month's read allowance is spent or kept for others, by purpose.",
    ("purpose",),
)
READ_ALERTS = Counter(
    "qbo_sync_qbo_read_alerts_total",
    "Levels of the month's QBO read allowance reached (80, 95, 100 %), each once a month.",
    ("level",),
)
TOKEN_REFRESHES = Counter(
    "qbo_sync_token_refreshes_total",
    "OAuth token refreshes: refreshed, or the error (invalid_grant, transport, ...).",
    ("result",),
)
CALLBACK_DELIVERIES = Counter(
    "qbo_sync_callback_deliveries_total",
    "Attempts to deliver callback notices, by kind and result: delivered, retrying, failed.",
    ("kind", "result"),
)
DRIFT_FOUND = Counter(
    "qbo_sync_drift_found_total",
    "Changes made in QBO to records we own, by kind and how they were found (webhook, cdc).",
    ("kind", "found_by"),
)
COUNTERS = (
    EVENTS_INGESTED,
    SYNC_OUTCOMES,
    QBO_REQUESTS,
    QBO_THROTTLED,
    QBO_CALLS,
    QBO_READS_WAITING,
    READ_ALERTS,
    TOKEN_REFRESHES,
    CALLBACK_DELIVERIES,
    DRIFT_FOUND,
)
HISTOGRAMS = (QBO_LATENCY,)


def _field(metric: Counter | Histogram, labels: Mapping[str, str]) -> str:
    return json.dumps([str(labels.get(name, "")) for name in metric.labels])


def metric_key(metric: Counter | Histogram) -> str:
    """The Redis hash of a metric, for code that adds to it in its own pipeline."""
    return PREFIX + metric.name


def metric_field(metric: Counter | Histogram, labels: Mapping[str, str]) -> str:
    """The field of one label set in the metric's hash."""
    return _field(metric, labels)


class Metrics:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def incr(self, metric: Counter, labels: Mapping[str, str] | None = None) -> None:
        try:
            await self._redis.hincrby(  # type: ignore[misc]
                PREFIX + metric.name, _field(metric, labels or {}), 1
            )
        except Exception:
            logger.debug("metric not recorded", exc_info=True)

    async def observe(
        self, metric: Histogram, value: float, labels: Mapping[str, str] | None = None
    ) -> None:
        field = _field(metric, labels or {})
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for bound in metric.buckets:
                    if value <= bound:
                        pipe.hincrby(PREFIX + metric.name, f"{field}|{bound}", 1)
                pipe.hincrby(PREFIX + metric.name, f"{field}|+Inf", 1)
                pipe.hincrbyfloat(PREFIX + metric.name, f"{field}|sum", value)
                await pipe.execute()
        except Exception:
            logger.debug("metric not recorded", exc_info=True)

    async def qbo_request(self, endpoint: str, status: str, seconds: float) -> None:
        """One request sent to QBO (the recorder `app.qbo` clients are given): counted by
        endpoint and status, timed, and a 429 counted as a throttle."""
        await self.incr(QBO_REQUESTS, {"endpoint": endpoint, "status": status})
        await self.observe(QBO_LATENCY, seconds, {"endpoint": endpoint})
        if status == "429":
            await self.incr(QBO_THROTTLED)

    async def read(self, name: str) -> dict[str, float]:
        raw = await self._redis.hgetall(PREFIX + name)  # type: ignore[misc]
        return {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()}
