"""GET /sync-status: one glance per company."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from app.db import utcnow
from app.deps import SessionDep, StatusReader
from app.drift.service import drift_counts, unmapped_counts
from app.errors import NotFound, problem_responses, reject_unknown_parameters
from app.status.reads import ReadsReport, reads_report
from app.status.service import RealmReport, overall, realm_reports

router = APIRouter(tags=["status"])


class ConnectionState(BaseModel):
    status: str
    company_name: str | None
    access_token_expires_at: datetime | None
    reconnect_by: datetime | None


class LastError(BaseModel):
    category: str | None = None
    code: str | None = None
    message: str | None = None
    intuit_tid: str | None = None
    event_id: str | None = None
    at: datetime | None = None


class BudgetOut(BaseModel):
    requests_last_minute: int = Field(description="QBO requests granted in the last minute.")
    in_flight: int
    paused_until: datetime | None = Field(None, description="Set after a 429 from QBO.")


class RealmStatus(BaseModel):
    realm_id: str
    verdict: str = Field(description="ok, degraded or failing")
    reason: str
    connection: ConnectionState | None
    counts: dict[str, int] = Field(description="Events per status.")
    lag_seconds: float | None = Field(description="Age of the oldest event not yet in QBO.")
    oldest_open_at: datetime | None
    synced_last_5_minutes: int
    synced_last_hour: int
    last_success_at: datetime | None
    last_error: LastError | None
    budget: BudgetOut | None
    mismatches: int = Field(
        0,
        description="Documents whose last synced write QBO booked with another total or tax"
        " than the caller's (beyond the company's mismatch_tolerance); see each event's"
        " `mismatch`.",
    )
    drift: dict[str, int] = Field(
        default_factory=dict, description="Changes made in QBO to our records, per kind."
    )
    unmapped_in_qbo: dict[str, int] = Field(
        default_factory=dict,
        description="Records created in QBO that no caller's event made, per entity.",
    )


class CompanyReadsOut(BaseModel):
    realm_id: str
    reads: int


class ReadsOut(BaseModel):
    """The month's QBO calls (Intuit meters reads, "CorePlus", per app and month)."""

    month: str = Field(description="The calendar month (UTC), YYYY-MM.")
    allowance: int = Field(description="QBO_MONTHLY_READ_ALLOWANCE; 0: an unmetered tier.")
    reads: int = Field(description="Metered reads this month, every company together.")
    used_percent: float | None = Field(description="Reads as a share of the allowance.")
    projected_reads: int = Field(
        description="Reads at month end if they go on at this month's rate so far."
    )
    state: str = Field(
        description="ok; alert (80 %); optional_paused (95 %: CDC sweeps beyond the daily"
        " one, drift rechecks, reference lists wait); reads_paused (100 %, or QBO said the"
        " month's reads are used up: every read waits for the next month, writes go on)."
    )
    writes: int = Field(description="Writes this month (not metered).")
    oauth: int = Field(description="OAuth token calls this month (not metered).")
    top_companies: list[CompanyReadsOut] = Field(description="The companies reading most.")


def reads_out(report: ReadsReport) -> ReadsOut:
    share = report.used_share
    return ReadsOut(
        month=report.month,
        allowance=report.allowance,
        reads=report.reads,
        used_percent=round(share * 100, 2) if share is not None else None,
        projected_reads=report.projected,
        state=report.state,
        writes=report.writes,
        oauth=report.oauth,
        top_companies=[CompanyReadsOut(realm_id=c.realm_id, reads=c.reads) for c in report.top],
    )


class SyncStatus(BaseModel):
    verdict: str
    reason: str
    generated_at: datetime
    counts: dict[str, int]
    reads: ReadsOut
    realms: list[RealmStatus]


def _out(report: RealmReport, now: datetime) -> RealmStatus:
    connection = report.connection
    budget = report.budget
    return RealmStatus(
        realm_id=report.realm_id,
        verdict=report.verdict,
        reason=report.reason,
        connection=ConnectionState(
            status=connection.status,
            company_name=connection.company_name,
            access_token_expires_at=connection.access_token_expires_at,
            reconnect_by=connection.refresh_token_hard_expires_at,
        )
        if connection
        else None,
        counts=dict(sorted(report.counts.items())),
        lag_seconds=(now - report.oldest_open).total_seconds() if report.oldest_open else None,
        oldest_open_at=report.oldest_open,
        synced_last_5_minutes=report.synced_5m,
        synced_last_hour=report.synced_1h,
        mismatches=report.mismatches,
        last_success_at=report.last_success,
        last_error=LastError.model_validate(report.last_error) if report.last_error else None,
        budget=BudgetOut(
            requests_last_minute=budget.used_last_minute,
            in_flight=budget.in_flight,
            paused_until=now + timedelta(seconds=budget.paused_for)
            if budget.paused_for > 0
            else None,
        )
        if budget
        else None,
    )


@router.get(
    "/sync-status",
    response_model=SyncStatus,
    responses=problem_responses(401, 403, 404, 422),
)
async def sync_status(
    request: Request,
    caller: StatusReader,
    session: SessionDep,
    realm_id: Annotated[str | None, Query(pattern=r"^[0-9]{1,32}$")] = None,
) -> SyncStatus:
    """Whether each company is syncing, how far behind it is, and what fails and why."""
    reject_unknown_parameters(request.query_params, {"realm_id"})
    reports = await realm_reports(session, getattr(request.app.state, "budget", None), realm_id)
    if realm_id is not None and not reports:
        raise NotFound(f"no connection and no events for realm {realm_id}")
    now = utcnow()
    totals: dict[str, int] = {}
    for report in reports:
        for status, n in report.counts.items():
            totals[status] = totals.get(status, 0) + n
    verdict, reason = overall(reports)
    drift = await drift_counts(session, realm_id)
    unmapped = await unmapped_counts(session, realm_id)
    reads = await reads_report(session, getattr(request.app.state, "meter", None))
    return SyncStatus(
        verdict=verdict,
        reason=reason,
        generated_at=now,
        counts=dict(sorted(totals.items())),
        reads=reads_out(reads),
        realms=[
            _out(r, now).model_copy(
                update={
                    "drift": drift.get(r.realm_id, {}),
                    "unmapped_in_qbo": unmapped.get(r.realm_id, {}),
                }
            )
            for r in reports
        ],
    )
