"""soak: intake and sync at a steady rate near the realms' budgets, for minutes on end.

`make soak` (or `python -m bench.soak [--minutes 10] [--realms 3] [--rate 7]`) starts the
service the way `bench.sync` does: throw-away PostgreSQL and Redis, the QBO emulator with
Intuit's limits on, the API and two arq workers, all as real processes. It connects
`--realms` emulator companies and then, for `--minutes`, posts single events to POST /events
at `--rate` events a second per realm.

Load. Open loop: each realm's arrivals are a Poisson process (exponential gaps drawn
ahead of time, independent of how fast the API answers), and every arrival is its own
request, so a slow API meets a growing queue instead of a politely waiting client. Latency
runs from the arrival's scheduled time to the answer, so time spent waiting for a
connection counts too. Any non-2xx answer or transport error is an error. Each realm gets a
steady mix: a few items first, then new customers (20%), invoices of 1-3 lines referencing
known customers and items (35%), payments each paying one open invoice in full (28%), and
updates: customers' contact details (8%), invoices' memo on unpaid invoices (7%) and
items' descriptions (2%); every upsert carries the record's full current state.

Rate. A company's budget is Intuit's 500 requests a minute, 8.3 a second. A record that
arrives alone goes to QBO alone, one request; only when two or more are due at once does the
service batch them. At the default 7 events a second a realm sends 420 records a minute, 84%
of the budget if every record took its own request: close to the budget, without being a
backlog test (that is `bench.sync`), and leaving room for the occasional extra read. Three
realms at 7/s are 21 requests a second into the API, well within its single-event intake
(`bench.ingest`), so what is measured is the steady state, not saturation.

Every 60 s one line: minute, events posted, errors, intake p50/p99 that minute, events
synced so far and still open (from the database), QBO requests and 429s that minute (the
emulator's counters), busy share of the machine's CPU, and the RSS (MB, with children) of
the API, each worker and the emulator. At the end it waits (bounded) for the backlog to
drain, prints totals, dead events grouped by reason, p99 per minute and each process' RSS
after the warm-up (2 minutes) and at the end, and finally

    soak: minutes=N events=N errors=N p99_ms_max=N synced=N dead=N rss_growth_max_pct=N

The exit code is 1 when there was an error, a dead event, an event still open after the
drain, or an RSS growth over 10% after the warm-up in the API or a worker. The emulator's
growth is shown but not judged: it is the stand-in for QBO's database and keeps every
record and every requestid's answer in memory, so it grows with the data by design.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine
from app.events.models import FINAL_STATUSES
from bench._procs import host_cpu_ticks, process_cpu_seconds, process_rss_mb
from bench.sync import Stack, admitted_requests, connect_company, counters, service_stack

WARMUP_MINUTES = 2
RSS_GROWTH_LIMIT_PCT = 10.0
MINUTE_S = 60.0
# Requests scheduled in a minute get this long to answer before the minute's line is printed.
LINE_GRACE_S = 1.0
# Concurrent requests at most; arrivals beyond that wait in a queue, their wait counted.
SENDERS = 32
ITEMS_PER_REALM = 5
MIX = (
    ("customer", 0.20),
    ("invoice", 0.35),
    ("payment", 0.28),
    ("customer_update", 0.08),
    ("invoice_update", 0.07),
    ("item_update", 0.02),
)
# Memory is judged for the service's processes; the emulator holds QBO's data (see above).
JUDGED = ("api", "worker-1", "worker-2")


# --- the event mix --------------------------------------------------------------------------


@dataclass(slots=True)
class RealmMix:
    """The events of one realm, in the order they are posted; deterministic for a seed."""

    realm: str
    rng: random.Random
    seq: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    unpaid: list[str] = field(default_factory=list)

    def next_event(self) -> dict[str, Any]:
        self.seq += 1
        if len(self.items) < ITEMS_PER_REALM:
            return self._event("item", self._new_item())
        kind = self.rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        if not self.customers or (kind in ("payment", "invoice_update") and not self.unpaid):
            kind = "customer" if not self.customers else "invoice"
        if kind == "customer":
            return self._event("customer", self._new_customer())
        if kind == "customer_update":
            customer = self.rng.choice(self.customers)
            customer["phone"] = f"+1 555 {self.rng.randrange(10**4):04d}"
            customer["email"] = f"ap{self.seq}@{customer['external_id']}.example.com"
            return self._event("customer", dict(customer))
        if kind == "item_update":
            item = self.rng.choice(self.items)
            item["description"] = f"{item['name']}, revision {self.seq}"
            return self._event("item", dict(item))
        if kind == "invoice":
            return self._event("invoice", self._new_invoice())
        if kind == "invoice_update":
            invoice = self.invoices[self.rng.choice(self.unpaid)]
            invoice["memo"] = f"Revised at event {self.seq}"
            return self._event("invoice", dict(invoice))
        # Payments pay the oldest open invoice in full.
        invoice = self.invoices.pop(self.unpaid.pop(0))
        total = sum(Decimal(line["amount"]) for line in invoice["lines"])
        payment = {
            "external_id": f"pay-{self.seq}",
            "customer_external_id": invoice["customer_external_id"],
            "date": invoice["txn_date"],
            "total": f"{total:.2f}",
            "method": "Check",
            "reference": f"REF{self.seq}",
            "applied_to": [
                {"invoice_external_id": invoice["external_id"], "amount": f"{total:.2f}"}
            ],
        }
        return self._event("payment", payment)

    def _event(self, entity: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_id": f"soak-{self.realm}-{self.seq}",
            "realm_id": self.realm,
            "type": f"{entity}.upserted",
            "occurred_at": datetime.now(UTC).isoformat(),
            "data": data,
        }

    def _new_item(self) -> dict[str, Any]:
        n = len(self.items)
        item = {
            "external_id": f"item-{n}",
            "name": f"Soak service {n}",
            "type": "service",
            "unit_price": f"{25 * (n + 1)}.50",
            "description": f"Soak service {n}",
        }
        self.items.append(item)
        return dict(item)

    def _new_customer(self) -> dict[str, Any]:
        n = len(self.customers)
        customer = {
            "external_id": f"cust-{n}",
            "display_name": f"Soak Customer {n:06d}",
            "company_name": f"Soak Customer {n:06d} LLC",
            "email": f"billing@cust-{n}.example.com",
            "phone": f"+1 555 {n % 10**4:04d}",
            "billing_address": {
                "line1": f"{100 + n % 900} Market Street",
                "city": "Denver",
                "region": "CO",
                "postal_code": "80202",
                "country": "US",
            },
            "currency": "USD",
            "active": True,
        }
        self.customers.append(customer)
        return dict(customer)

    def _new_invoice(self) -> dict[str, Any]:
        today = datetime.now(UTC).date()
        lines = []
        for item in self.rng.sample(self.items, self.rng.randint(1, 3)):
            quantity = self.rng.randint(1, 5)
            lines.append(
                {
                    "item_external_id": item["external_id"],
                    "quantity": str(quantity),
                    "unit_price": item["unit_price"],
                    "amount": f"{quantity * Decimal(item['unit_price']):.2f}",
                }
            )
        invoice = {
            "external_id": f"inv-{self.seq}",
            "customer_external_id": self.rng.choice(self.customers)["external_id"],
            "txn_date": today.isoformat(),
            "due_date": (today + timedelta(days=30)).isoformat(),
            "lines": lines,
            "memo": "Thank you for your business",
        }
        self.invoices[invoice["external_id"]] = invoice
        self.unpaid.append(invoice["external_id"])
        return dict(invoice)


# --- the load --------------------------------------------------------------------------------


@dataclass(slots=True)
class Intake:
    """What the load generator saw, per minute of scheduled arrival."""

    t0: float
    posted: Counter[int] = field(default_factory=Counter)
    errors: Counter[int] = field(default_factory=Counter)
    latencies_ms: dict[int, list[float]] = field(default_factory=dict)
    error_kinds: Counter[str] = field(default_factory=Counter)

    def minute_of(self, at: float) -> int:
        return int((at - self.t0) // MINUTE_S)


# (scheduled arrival time, request body)
Arrivals = asyncio.Queue[tuple[float, bytes]]


async def sender(base_url: str, headers: dict[str, str], queue: Arrivals, intake: Intake) -> None:
    """Post queued arrivals one at a time over one connection; record each latency from its
    scheduled time. Each sender has its own client: a pool shared by many concurrent requests
    costs httpcore work proportional to its size on every request, which on a busy machine
    made the load generator itself the bottleneck."""
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=30, limits=one
    ) as client:
        while True:
            await _post_next(client, queue, intake)


async def _post_next(client: httpx.AsyncClient, queue: Arrivals, intake: Intake) -> None:
    at, body = await queue.get()
    minute = intake.minute_of(at)
    intake.posted[minute] += 1
    error: str | None = None
    try:
        answer = await client.post("/events", content=body)
        if not 200 <= answer.status_code < 300:
            error = f"HTTP {answer.status_code}: {answer.text[:160]}"
    except httpx.HTTPError as err:
        error = f"{type(err).__name__}: {err}"[:200]
    finally:
        queue.task_done()
    intake.latencies_ms.setdefault(minute, []).append((time.monotonic() - at) * 1000)
    if error is not None:
        intake.errors[minute] += 1
        intake.error_kinds[error] += 1


async def arrivals(mix: RealmMix, rate: float, t0: float, end: float, queue: Arrivals) -> None:
    """One realm's Poisson arrivals until `end`, queued at their scheduled time whatever the
    senders are doing (open loop: a slow API makes the queue grow, not the arrivals wait)."""
    at = t0
    while True:
        at += mix.rng.expovariate(rate)
        if at >= end:
            return
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((at, json.dumps(mix.next_event()).encode()))


# --- observation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """The state of the system at one moment."""

    synced: int
    open: int
    dead: int
    qbo_requests: int
    throttled: int
    host: tuple[int, int] | None
    service_cpu_s: float
    rss_mb: dict[str, float | None]


async def status_counts(engine: AsyncEngine) -> tuple[Counter[str], int]:
    """Events per status, and how many are still open (not in QBO, not given up)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT status, count(*) FROM events GROUP BY 1"))).all()
    by_status = Counter({str(status): int(n) for status, n in rows})
    final = {s.value for s in FINAL_STATUSES}
    return by_status, sum(n for status, n in by_status.items() if status not in final)


async def take_sample(
    engine: AsyncEngine, emulator: str, realms: Sequence[str], pids: dict[str, int]
) -> Sample:
    by_status, still_open = await status_counts(engine)
    admitted = throttled = 0
    for realm in realms:
        counts = await counters(emulator, realm)
        admitted += admitted_requests(counts)
        throttled += int(counts["throttled_429"])
    return Sample(
        synced=by_status["synced"],
        open=still_open,
        dead=by_status["dead"],
        qbo_requests=admitted,
        throttled=throttled,
        host=host_cpu_ticks(),
        service_cpu_s=sum(process_cpu_seconds(pids[name]) or 0.0 for name in JUDGED),
        rss_mb={name: process_rss_mb(pid) for name, pid in pids.items()},
    )


def percentile(values: Sequence[float], pct: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _mb(value: float | None) -> str:
    return "gone" if value is None else f"{value:.0f}"


def header(names: Sequence[str]) -> str:
    rss = "".join(f" {name + '_mb':>12}" for name in names)
    columns = (
        "minute  posted  errors  p50_ms  p99_ms  synced    open  qbo_req  429s  host%  svc_cpu"
    )
    return columns + rss


def minute_line(minute: int, intake: Intake, before: Sample, now: Sample) -> str:
    lat = intake.latencies_ms.get(minute, [])
    host = "     -"
    if before.host is not None and now.host is not None:
        busy, total = (now.host[0] - before.host[0]), (now.host[1] - before.host[1])
        host = f"{100 * busy / total:5.0f}%" if total else host
    rss = "".join(f" {_mb(mb):>12}" for mb in now.rss_mb.values())
    return (
        f"{minute + 1:6d}  {intake.posted[minute]:6d}  {intake.errors[minute]:6d}"
        f"  {percentile(lat, 50):6.1f}  {percentile(lat, 99):6.1f}  {now.synced:6d}  {now.open:6d}"
        f"  {now.qbo_requests - before.qbo_requests:7d}  {now.throttled - before.throttled:4d}"
        f" {host}  {(now.service_cpu_s - before.service_cpu_s) / MINUTE_S:7.2f}{rss}"
    )


# --- the run ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    lines: list[str]
    failed: bool


async def soak(args: argparse.Namespace, stack: Stack) -> Outcome:
    realms = [
        await connect_company(stack.settings, stack.emulator, f"Soak Books {n + 1}")
        for n in range(args.realms)
    ]
    pids = {
        "api": stack.api.pid,
        "worker-1": stack.worker_pids[0],
        "worker-2": stack.worker_pids[1],
        "emulator": stack.emulator_pid,
    }
    warmup = min(WARMUP_MINUTES, args.minutes - 1)
    engine = create_engine(stack.settings.server_urls()[0], pool_size=1, max_overflow=0)
    headers = {"Authorization": f"Bearer {stack.key}", "Content-Type": "application/json"}
    tasks: list[asyncio.Task[None]] = []
    try:
        print(
            f"soak: {args.minutes} min, {len(realms)} realms x {args.rate}/s"
            f" (Poisson), warm-up {warmup} min",
            flush=True,
        )
        print(header(list(pids)), flush=True)
        first = await take_sample(engine, stack.emulator, realms, pids)
        intake = Intake(t0=time.monotonic())
        end = intake.t0 + args.minutes * MINUTE_S
        queue: Arrivals = asyncio.Queue()
        tasks += [
            asyncio.create_task(sender(stack.api.base_url, headers, queue, intake))
            for _ in range(SENDERS)
        ]
        load = [
            asyncio.create_task(
                arrivals(
                    RealmMix(realm, random.Random(args.seed + n)), args.rate, intake.t0, end, queue
                )
            )
            for n, realm in enumerate(realms)
        ]
        tasks += load
        samples = [first]
        for minute in range(args.minutes):
            await asyncio.sleep(
                max(0.0, intake.t0 + (minute + 1) * MINUTE_S + LINE_GRACE_S - time.monotonic())
            )
            samples.append(await take_sample(engine, stack.emulator, realms, pids))
            print(minute_line(minute, intake, samples[-2], samples[-1]), flush=True)
        await asyncio.gather(*load)
        await queue.join()
        drained_s, still_open = await drain(engine, args.drain_timeout)
        return await summary(
            args, engine, intake, samples, warmup, drained_s, still_open, list(pids)
        )
    finally:
        for task in tasks:
            task.cancel()
        await engine.dispose()


async def drain(engine: AsyncEngine, limit_s: float) -> tuple[float, int]:
    """Wait up to `limit_s` seconds for no open events; returns (seconds waited, still open)."""
    started = time.monotonic()
    last_print = started
    while True:
        _, still_open = await status_counts(engine)
        waited = time.monotonic() - started
        if still_open == 0 or waited >= limit_s:
            return waited, still_open
        if time.monotonic() - last_print >= 30:
            print(f"  draining: {still_open} events open after {waited:.0f} s", flush=True)
            last_print = time.monotonic()
        await asyncio.sleep(2)


async def dead_reasons(engine: AsyncEngine) -> list[tuple[str, int]]:
    sql = text(
        "SELECT entity_type, last_error->>'category', last_error->>'code',"
        " left(last_error->>'message', 120), count(*) FROM events WHERE status = 'dead'"
        " GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC"
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(sql)).all()
    return [(f"{e} {cat} {code}: {msg}", int(n)) for e, cat, code, msg, n in rows]


async def summary(
    args: argparse.Namespace,
    engine: AsyncEngine,
    intake: Intake,
    samples: list[Sample],
    warmup: int,
    drained_s: float,
    still_open: int,
    names: list[str],
) -> Outcome:
    by_status, _ = await status_counts(engine)
    reasons = await dead_reasons(engine)
    events = sum(intake.posted.values())
    errors = sum(intake.errors.values())
    p99s = [percentile(intake.latencies_ms.get(m, []), 99) for m in range(args.minutes)]
    start, end = samples[warmup], samples[-1]
    lines = [
        "",
        f"events {events} ({sum(by_status.values())} stored): synced {by_status['synced']},"
        f" superseded {by_status['superseded']}, dead {by_status['dead']}, open {still_open}"
        f" (drained {drained_s:.0f} s after the load stopped)",
        f"intake errors {errors}",
        *(f"  {n:5d}  {kind}" for kind, n in intake.error_kinds.most_common(10)),
        f"dead {by_status['dead']}",
        *(f"  {n:5d}  {reason}" for reason, n in reasons),
        f"QBO requests {end.qbo_requests - samples[0].qbo_requests},"
        f" 429s {end.throttled - samples[0].throttled}",
        "intake p99_ms by minute: " + " ".join(f"{p:.1f}" for p in p99s),
        f"RSS (MB, with children) after the {warmup}-minute warm-up and at the end:",
    ]
    growth: dict[str, float] = {}
    failed = False
    for name in names:
        before, after = start.rss_mb[name], end.rss_mb[name]
        if before is None or after is None:
            lines.append(f"  {name:<10} {_mb(before):>8} {_mb(after):>8}  process died")
            failed = True
            continue
        growth[name] = 100 * (after - before) / before
        note = "" if name in JUDGED else "  (not judged: holds QBO's records in memory)"
        lines.append(f"  {name:<10} {before:8.1f} {after:8.1f}  {growth[name]:+6.1f}%{note}")
    growth_max = max((growth[n] for n in JUDGED if n in growth), default=float("nan"))
    p99_max = max((p for p in p99s if p == p), default=float("nan"))
    failed = failed or errors > 0 or by_status["dead"] > 0 or still_open > 0
    failed = failed or not growth_max <= RSS_GROWTH_LIMIT_PCT
    lines.append(
        f"soak: minutes={args.minutes} events={events} errors={errors} p99_ms_max={p99_max:.1f}"
        f" synced={by_status['synced']} dead={by_status['dead']}"
        f" rss_growth_max_pct={growth_max:.1f}"
    )
    return Outcome(lines, failed)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--minutes", type=int, default=10, help="minutes of load (10)")
    parser.add_argument("--realms", type=int, default=3, help="companies (3)")
    parser.add_argument(
        "--rate", type=float, default=7.0, help="events a second per realm (7; see the docstring)"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=300, help="seconds to wait for the backlog (300)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the event mix and arrivals")
    args = parser.parse_args(argv)
    if args.minutes < 1 or args.realms < 1 or args.rate <= 0:
        parser.error("need at least 1 minute, 1 realm and a positive rate")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with service_stack("soak") as stack:
        outcome = asyncio.run(soak(args, stack))
    print("\n".join(outcome.lines))
    if outcome.failed:
        print("soak: FAILED (errors, dead or open events, or RSS growth over 10%)", file=sys.stderr)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
