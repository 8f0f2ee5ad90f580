"""GET /metrics: Prometheus text format, for every process of the service at once."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from app.core.metrics import COUNTERS, HISTOGRAMS, Metrics
from app.db import utcnow
from app.deps import SessionDep, StatusReader
from app.errors import problem_responses
from app.events.models import FINAL_STATUSES
from app.status.reads import ReadsReport, reads_report
from app.status.service import realm_reports

router = APIRouter(tags=["status"])
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
VERDICTS = ("ok", "degraded", "failing")


class _Snapshot(Collector):
    """Families gathered before rendering (collectors themselves cannot await)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def _reads_families(reads: ReadsReport) -> list[Metric]:
    used = GaugeMetricFamily(
        "qbo_sync_qbo_reads_month", "Metered QBO reads this calendar month (UTC), every company."
    )
    used.add_metric([], reads.reads)
    projected = GaugeMetricFamily(
        "qbo_sync_qbo_reads_projected", "QBO reads at month end at this month's rate so far."
    )
    projected.add_metric([], reads.projected)
    allowance = GaugeMetricFamily(
        "qbo_sync_qbo_read_allowance", "The month's read allowance (0: an unmetered tier)."
    )
    allowance.add_metric([], reads.allowance)
    by_realm = GaugeMetricFamily(
        "qbo_sync_qbo_reads_month_by_realm",
        "Metered QBO reads this month of the companies reading most.",
        labels=["realm_id"],
    )
    for company in reads.top:
        by_realm.add_metric([company.realm_id], company.reads)
    return [used, projected, allowance, by_realm]


async def _families(metrics: Metrics, reports: list[Any]) -> list[Metric]:
    families: list[Metric] = []
    for counter in COUNTERS:
        family = CounterMetricFamily(
            counter.name.removesuffix("_total"), counter.help, labels=list(counter.labels)
        )
        for field, value in sorted((await metrics.read(counter.name)).items()):
            family.add_metric(json.loads(field), value)
        families.append(family)
    for histogram in HISTOGRAMS:
        spread = HistogramMetricFamily(
            histogram.name, histogram.help, labels=list(histogram.labels)
        )
        raw = await metrics.read(histogram.name)
        for labels in sorted({field.split("|", 1)[0] for field in raw}):
            buckets = [
                (str(bound), raw.get(f"{labels}|{bound}", 0.0)) for bound in histogram.buckets
            ]
            buckets.append(("+Inf", raw.get(f"{labels}|+Inf", 0.0)))
            spread.add_metric(json.loads(labels), buckets, raw.get(f"{labels}|sum", 0.0))
        families.append(spread)
    now = utcnow()
    lag = GaugeMetricFamily(
        "qbo_sync_lag_seconds",
        "Age of the oldest event not yet in QBO, per realm.",
        labels=["realm_id"],
    )
    dead = GaugeMetricFamily("qbo_sync_dead_events", "Dead events per realm.", labels=["realm_id"])
    waiting = GaugeMetricFamily(
        "qbo_sync_open_events",
        "Events not yet in QBO per realm and status.",
        labels=["realm_id", "status"],
    )
    failing = GaugeMetricFamily(
        "qbo_sync_realm_verdict",
        "1 for the realm's current verdict (ok, degraded, failing).",
        labels=["realm_id", "verdict"],
    )
    for report in reports:
        age = (now - report.oldest_open).total_seconds() if report.oldest_open else 0.0
        lag.add_metric([report.realm_id], age)
        dead.add_metric([report.realm_id], report.counts.get("dead", 0))
        for status, n in report.counts.items():
            if status not in FINAL_STATUSES:
                waiting.add_metric([report.realm_id, status], n)
        for verdict in ("ok", "degraded", "failing"):
            failing.add_metric(
                [report.realm_id, verdict], 1.0 if report.verdict == verdict else 0.0
            )
    return [*families, lag, dead, waiting, failing]


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"},
        **problem_responses(401, 403),
    },
)
async def metrics(request: Request, caller: StatusReader, session: SessionDep) -> Response:
    """Counters of every process (kept in Redis), and per-realm gauges read at scrape time."""
    reports = await realm_reports(session, getattr(request.app.state, "budget", None))
    registry = CollectorRegistry(auto_describe=False)
    reads = await reads_report(session, getattr(request.app.state, "meter", None))
    families = await _families(request.app.state.metrics, reports) + _reads_families(reads)
    registry.register(_Snapshot(families))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE)
