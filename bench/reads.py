"""bench-reads: the month's metered QBO reads, per synced record and per idle company.

`make bench-reads` (or `python -m bench.reads [--minutes 10] [--companies 20] [--rate 2]`)
starts the service as `bench.sync` does: throw-away PostgreSQL and Redis, the QBO emulator
(Intuit's limits on, its webhooks sent to the API), the API and two arq workers, all as real
processes with the default settings (CDC every `CDC_INTERVAL_MINUTES`, once a day for a
company whose webhooks arrive: `CDC_INTERVAL_WITH_WEBHOOKS_MINUTES`). It connects
`--companies` emulator companies and turns the webhooks of half of them off (the emulator's
`PATCH /admin/companies/{realm}` `webhooks: false`: their changes reach CDC only). Then it
posts `--rate` records a second in total, round robin over the companies, in the mix of
`bench.soak` (items first, then customers, invoices, payments and updates), for a warm-up
minute and then for `--minutes` of steady state, and waits (bounded) for the last records
and the webhooks of their writes to be worked off.

Time. The emulator's clock only moves by jumps (`POST /admin/clock/advance`) and the
service schedules its CDC passes and expires its caches on its own clock, so nothing can
run a month faster: the steady state runs in real time and the month is projected.

- Reads per synced record: every metered read of the steady state (what the emulator
  counted for the app, checked against the service's own meter) over the records synced in
  it. The CDC sweeps of the companies without webhooks are in it at the schedule's rate (one
  per company every CDC_INTERVAL_MINUTES), not as many as the window's phase lets fall into
  a window shorter than that interval (both figures are printed).
- Reads per idle company per month: once the load has stopped, the service's own CDC
  schedule (`app.drift.jobs.cdc_due_realms`, the query of the worker's sweep) is asked
  every 5 simulated minutes of a month (30.44 days) with no change anywhere, each pass it
  finds due costing one read (one CDC call for every entity type: an idle company's answer
  is empty), inside a transaction rolled back at the end. Idle, nothing else reads.

Prints the reads by purpose (the meter's `qbo_sync_qbo_calls_total{kind,purpose}`), per
company with and without webhooks, OAuth calls (not metered), the projected idle reads per
company and month with and without webhooks, and finally

    bench-reads: reads_per_record=N idle_reads_per_company_month=N

(the idle figure of a company with webhooks). Targets: at most 0.05 reads per synced record
and 100 reads per idle company with webhooks a month; the exit code is 1 when one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import httpx
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import EMULATOR_CLIENT_ID, Settings
from app.core.metrics import QBO_CALLS, Metrics
from app.db import create_engine, utcnow
from app.drift.jobs import cdc_due_realms
from app.drift.models import CdcCheckpoint, ChangeStatus, QboChange
from app.events.models import FINAL_STATUSES, Event, EventStatus
from bench.soak import RealmMix
from bench.sync import Stack, connect_company, counters, service_stack

TARGET_PER_RECORD = 0.05
TARGET_IDLE_MONTH = 100
WARMUP_MINUTES = 1.0
MONTH = timedelta(days=365.25 / 12)
SIMULATED_STEP = timedelta(minutes=5)
# After the load, wait at most this long for open events and pending sightings.
DRAIN_S = 180.0
SEED = 20


def metered(endpoint: str) -> bool:
    """What the emulator (as Intuit) meters: a GET, or a query sent by POST."""
    return endpoint.startswith("GET ") or endpoint == "POST query"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The counts at one moment."""

    at: float
    synced: int
    # The service's meter: calls by (kind, purpose).
    meter: Counter[tuple[str, str]]
    # The emulator's metered reads of the app (every month), and per company by endpoint.
    app_reads: int
    company_reads: dict[str, Counter[str]]

    def meter_reads(self) -> int:
        return sum(n for (kind, _), n in self.meter.items() if kind == "read")


async def take_snapshot(stack: Stack, redis: Redis, realms: Sequence[str]) -> Snapshot:
    raw = await Metrics(redis).read(QBO_CALLS.name)
    meter: Counter[tuple[str, str]] = Counter()
    for labels, value in raw.items():
        kind, purpose = json_pair(labels)
        meter[(kind, purpose)] += int(value)
    # Right after the meter: a read counted by one and not yet by the other is rare.
    async with httpx.AsyncClient(base_url=stack.emulator, timeout=30) as client:
        usage = (await client.get("/admin/reads")).json()["usage"].get(EMULATOR_CLIENT_ID, {})
    per_company: dict[str, Counter[str]] = {}
    for realm in realms:
        by_endpoint = (await counters(stack.emulator, realm))["by_endpoint"]
        per_company[realm] = Counter(
            {e: int(n) for e, n in by_endpoint.items() if metered(e) and int(n)}
        )
    engine = create_engine(stack.settings.server_urls()[0], pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            synced = await conn.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.status == EventStatus.SYNCED.value)
            )
    finally:
        await engine.dispose()
    return Snapshot(
        time.monotonic(), int(synced or 0), meter, sum(int(n) for n in usage.values()), per_company
    )


def json_pair(field: str) -> tuple[str, str]:
    """A counter field of QBO_CALLS (a JSON list of its label values) as (kind, purpose)."""
    kind, purpose = json.loads(field)
    return str(kind), str(purpose)


async def post_load(
    api: str, key: str, mixes: list[RealmMix], rate: float, until: float
) -> tuple[int, int]:
    """Records at `rate` a second, round robin over the companies, until `until`
    (monotonic); returns (posted, refused)."""
    posted = refused = 0
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api, timeout=30, headers=headers) as client:
        at = time.monotonic()
        while True:
            at += 1.0 / rate
            if at >= until:
                return posted, refused
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            mix = mixes[posted % len(mixes)]
            answer = await client.post("/events", json=mix.next_event())
            posted += 1
            if not 200 <= answer.status_code < 300:
                refused += 1


async def drain(settings: Settings, limit_s: float) -> tuple[int, int]:
    """Wait up to `limit_s` for no open event and no pending sighting; returns what is left."""
    engine = create_engine(settings.server_urls()[0], pool_size=1, max_overflow=0)
    finals = [s.value for s in FINAL_STATUSES]
    deadline = time.monotonic() + limit_s
    try:
        while True:
            async with engine.connect() as conn:
                still_open = await conn.scalar(
                    select(func.count()).select_from(Event).where(Event.status.not_in(finals))
                )
                pending = await conn.scalar(
                    select(func.count())
                    .select_from(QboChange)
                    .where(QboChange.status == ChangeStatus.PENDING.value)
                )
            left = (int(still_open or 0), int(pending or 0))
            if left == (0, 0) or time.monotonic() >= deadline:
                return left
            await asyncio.sleep(2)
    finally:
        await engine.dispose()


async def idle_month(settings: Settings, realms: Sequence[str]) -> Counter[str]:
    """CDC passes per company in a month without any change, as the service's own schedule
    decides them: `cdc_due_realms` asked every SIMULATED_STEP, each pass it finds due
    recorded as the worker records one, all in one transaction rolled back at the end."""
    interval = timedelta(minutes=settings.cdc_interval_minutes)
    hooked = timedelta(minutes=settings.cdc_interval_with_webhooks_minutes) or interval
    engine = create_engine(settings.server_urls()[0], pool_size=1, max_overflow=0)
    passes: Counter[str] = Counter()
    try:
        async with AsyncSession(engine) as session:
            start = utcnow()
            # A company that never had a pass gets its first one now (so the worker would).
            await session.execute(
                pg_insert(CdcCheckpoint)
                .values(
                    [{"realm_id": r, "changed_since": start, "last_run_at": start} for r in realms]
                )
                .on_conflict_do_update(index_elements=["realm_id"], set_={"last_run_at": start})
            )
            at = start
            while at < start + MONTH:
                at += SIMULATED_STEP
                due = await cdc_due_realms(session, interval, hooked, now=at)
                if due:
                    passes.update(due)
                    await session.execute(
                        update(CdcCheckpoint)
                        .where(CdcCheckpoint.realm_id.in_(due))
                        .values(last_run_at=at)
                    )
            await session.rollback()
    finally:
        await engine.dispose()
    return passes


@dataclass(frozen=True, slots=True)
class Result:
    lines: list[str]
    met: bool


async def scenario(args: argparse.Namespace, stack: Stack) -> Result:
    realms = [
        await connect_company(stack.settings, stack.emulator, f"Reads Books {n + 1}")
        for n in range(args.companies)
    ]
    hooked, plain = realms[: len(realms) // 2], realms[len(realms) // 2 :]
    async with httpx.AsyncClient(base_url=stack.emulator, timeout=30) as client:
        for realm in plain:
            answer = await client.patch(f"/admin/companies/{realm}", json={"webhooks": False})
            answer.raise_for_status()
    print(
        f"{len(realms)} companies connected ({len(hooked)} with webhooks); {args.rate} records/s"
        f" in total, {WARMUP_MINUTES:.0f} min warm-up, then {args.minutes} min measured",
        flush=True,
    )
    mixes = [RealmMix(realm, random.Random(SEED + n)) for n, realm in enumerate(realms)]
    redis = Redis.from_url(stack.settings.server_urls()[1])
    try:
        started = time.monotonic()
        warm_until = started + WARMUP_MINUTES * 60
        until = warm_until + args.minutes * 60
        load = asyncio.create_task(
            post_load(stack.api.base_url, stack.key, mixes, args.rate, until)
        )
        await asyncio.sleep(max(0.0, warm_until - time.monotonic()))
        first = await take_snapshot(stack, redis, realms)
        while not load.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(load), 60)
            if not load.done():
                now = await take_snapshot(stack, redis, realms)
                print(
                    f"  {(now.at - first.at) / 60:4.1f} min: {now.synced - first.synced} synced,"
                    f" {now.app_reads - first.app_reads} metered reads",
                    flush=True,
                )
        posted, refused = await load
        left = await drain(stack.settings, DRAIN_S)
        last = await take_snapshot(stack, redis, realms)
        # The webhooks' memory and CDC checkpoints are what the workers left.
        print("load done; playing an idle month on the service's CDC schedule ...", flush=True)
        passes = await idle_month(stack.settings, realms)
    finally:
        await redis.aclose()
    interval = stack.settings.cdc_interval_minutes
    return report(first, last, posted, refused, left, hooked, plain, passes, interval)


def report(
    first: Snapshot,
    last: Snapshot,
    posted: int,
    refused: int,
    left: tuple[int, int],
    hooked: Sequence[str],
    plain: Sequence[str],
    passes: Counter[str],
    cdc_interval_minutes: float,
) -> Result:
    minutes = (last.at - first.at) / 60
    synced = last.synced - first.synced
    app_reads = last.app_reads - first.app_reads
    meter = last.meter - first.meter
    meter_reads = sum(n for (kind, _), n in meter.items() if kind == "read")
    by_purpose = sorted(
        ((purpose or "(none)", n) for (kind, purpose), n in meter.items() if kind == "read"),
        key=lambda item: -item[1],
    )

    def company_reads(group: Sequence[str]) -> Counter[str]:
        total: Counter[str] = Counter()
        for realm in group:
            total += last.company_reads[realm] - first.company_reads[realm]
        return total

    with_hooks, without = company_reads(hooked), company_reads(plain)
    # The sweeps of the companies without webhooks at the schedule's rate: how many of them
    # fall in a window shorter than their interval depends on its phase, not on the service.
    swept = without["GET cdc"]
    sweeps = len(plain) * minutes / cdc_interval_minutes if cdc_interval_minutes else 0.0
    measured = app_reads / synced if synced else float("inf")
    per_record = (app_reads - swept + sweeps) / synced if synced else float("inf")
    idle_hooked = sum(passes[r] for r in hooked) / max(len(hooked), 1)
    idle_plain = sum(passes[r] for r in plain) / max(len(plain), 1)
    met = per_record <= TARGET_PER_RECORD and idle_hooked <= TARGET_IDLE_MONTH

    def endpoints(counts: Counter[str]) -> str:
        return ", ".join(f"{e} {n}" for e, n in counts.most_common()) or "none"

    lines = [
        "",
        f"steady state: {minutes:.1f} min (real time: the month is projected, see the"
        f" docstring), {posted} records posted ({refused} refused), {synced} synced"
        f" ({synced / max(minutes * 60, 1e-9):.2f}/s); left after the drain: {left[0]} open"
        f" events, {left[1]} pending sightings",
        f"metered reads: {app_reads} (emulator, as Intuit counts) / {meter_reads} (the"
        f" service's meter); writes {sum(n for (k, _), n in meter.items() if k == 'write')},"
        f" OAuth {sum(n for (k, _), n in meter.items() if k == 'oauth')} (not metered)",
        "reads by purpose: " + (", ".join(f"{p} {n}" for p, n in by_purpose) or "none"),
        f"companies with webhooks ({len(hooked)}): {sum(with_hooks.values())} reads"
        f" ({endpoints(with_hooks)})",
        f"companies without webhooks ({len(plain)}): {sum(without.values())} reads"
        f" ({endpoints(without)})",
        f"reads per synced record: {per_record:.4f} (target <= {TARGET_PER_RECORD}) with the"
        f" CDC sweeps of the companies without webhooks at the schedule's rate ({sweeps:.1f}"
        f" in {minutes:.1f} min); as measured ({swept} sweeps fell in the window):"
        f" {measured:.4f}",
        f"idle month ({MONTH.days} days, projected on the service's CDC schedule, one read a"
        f" pass): with webhooks {idle_hooked:.0f} reads per company (target <="
        f" {TARGET_IDLE_MONTH}), without webhooks {idle_plain:.0f}",
        "targets " + ("met" if met else "MISSED"),
        f"bench-reads: reads_per_record={per_record:.4f}"
        f" idle_reads_per_company_month={idle_hooked:.0f}",
    ]
    return Result(lines, met)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reads", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=10, help="measured minutes (10)")
    parser.add_argument("--companies", type=int, default=20, help="companies, half with webhooks")
    parser.add_argument("--rate", type=float, default=2.0, help="records a second in total (2)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.companies < 2 or args.rate <= 0:
        parser.error("need a positive window and rate, and at least 2 companies")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with service_stack("bench_reads") as stack:
        result = asyncio.run(scenario(args, stack))
    print("\n".join(result.lines))
    return 0 if result.met else 1


if __name__ == "__main__":
    raise SystemExit(main())
