"""Intake throughput of the real API process against the durable ceiling of this machine.

`make bench-ingest` (or `python -m bench.ingest [--events N] [--concurrency N]`) measures:

* single  -- N events through POST /events, one event per request, from `concurrency`
  concurrent clients (httpx, one keep-alive connection each) against `python -m app serve`
  running as its own uvicorn process on PostgreSQL and Redis;
* batch   -- the same number of events through POST /events/batch, `--batch-size` per request;
* ceiling -- a bare asyncpg loop that inserts the same number of rows into the same `events`
  table (the very column values the service writes for equivalent events, same JSON payload,
  same INSERT ... ON CONFLICT DO NOTHING RETURNING), one statement and one commit each, from
  `concurrency` tasks over a pool of `concurrency` connections, while the API is stopped.
  This is what PostgreSQL on this machine can durably commit one row at a time.

Every event is unique (its own event_id); bodies are realistic customer.upserted and
invoice.upserted events (2-3 lines) spread over a handful of realms. Each phase is warmed up
first, and the `events` table is emptied and checkpointed before each timed phase, so all
three start from the same state. eps = events / wall seconds of the phase; p50/p99 are
per-request latencies. Machines are noisy, so the ratio to the ceiling of the same run is
the figure to watch. The last line is machine-readable:

    bench-ingest: single_eps=N batch_eps=N p50_ms=N p99_ms=N ceiling_eps=N ratio=N

(ratio = single_eps / ceiling_eps). Aims: ratio >= 0.5 and batch_eps >= 5 x single_eps.
The run uses its own temporary DATA_DIR with embedded servers, or a fresh database on the
configured DATABASE_URL, and removes everything afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import httpx

from app.db import to_libpq_url
from bench._procs import (
    CpuMeter,
    Servers,
    api_process,
    create_api_key,
    process_cpu_seconds,
    throwaway_servers,
)

KEY_NAME = "bench-ingest"
AIM_RATIO = 0.5
AIM_BATCH_FACTOR = 5.0
REALM_COUNT = 5
ENTITIES_PER_REALM = 2_000

INSERT_SQL = """
INSERT INTO events (
    id, source, event_id, realm_id, entity_type, external_id, operation, payload,
    payload_hash, occurred_at, received_at, updated_at, status, attempts, next_attempt_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (source, event_id) DO NOTHING
RETURNING id
"""


# --- events -----------------------------------------------------------------------------------

CENT = Decimal("0.01")
ITEMS = [
    ("item-consulting", "Consulting, senior", "150.00"),
    ("item-support", "Support plan, monthly", "49.90"),
    ("item-training", "On-site training day", "1200.00"),
    ("item-license", "Software licence seat", "29.99"),
    ("item-setup", "Onboarding and setup", "350.00"),
]
CITIES = [
    ("San Francisco", "CA", "94105"),
    ("Austin", "TX", "73301"),
    ("Denver", "CO", "80202"),
    ("Boston", "MA", "02108"),
]


class EventFactory:
    """Unique, valid, realistic events; deterministic for a given seed."""

    def __init__(self, run_tag: str, seed: int = 7) -> None:
        self.run_tag = run_tag
        self.rng = random.Random(seed)
        # Realm ids unique to this run, so its Redis job keys can be told apart and removed.
        stem = str(int(run_tag, 16) % 10**9).zfill(9)
        self.realms = [f"9130{stem}{i}" for i in range(REALM_COUNT)]
        self.base_time = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def make(self, phase: str, index: int) -> dict[str, Any]:
        rng = self.rng
        realm = self.realms[index % REALM_COUNT]
        occurred = self.base_time + timedelta(milliseconds=index * 37 + rng.randint(0, 999))
        envelope: dict[str, Any] = {
            "event_id": f"{self.run_tag}-{phase}-{index:07d}",
            "realm_id": realm,
            "occurred_at": occurred.isoformat(),
        }
        if index % 2 == 0:
            return {**envelope, "type": "customer.upserted", "data": self._customer(rng)}
        return {**envelope, "type": "invoice.upserted", "data": self._invoice(rng, occurred)}

    def _customer(self, rng: random.Random) -> dict[str, Any]:
        n = rng.randrange(ENTITIES_PER_REALM)
        city, region, postal = rng.choice(CITIES)
        return {
            "external_id": f"cust-{n:05d}",
            "display_name": f"Northwind Traders {n:05d}",
            "company_name": f"Northwind Traders {n:05d} LLC",
            "given_name": rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara"]),
            "family_name": rng.choice(["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov"]),
            "email": f"billing+{n:05d}@northwind.example.com",
            "phone": f"+1 555 01{n % 100:02d}",
            "billing_address": {
                "line1": f"{100 + n % 900} Market Street",
                "line2": f"Suite {n % 40 + 1}",
                "city": city,
                "region": region,
                "postal_code": postal,
                "country": "US",
            },
            "currency": "USD",
            "active": True,
        }

    def _invoice(self, rng: random.Random, occurred: datetime) -> dict[str, Any]:
        n = rng.randrange(ENTITIES_PER_REALM)
        lines = []
        for _ in range(rng.choice((2, 3))):
            item_id, description, price = rng.choice(ITEMS)
            quantity = Decimal(rng.choice(("1", "2", "3", "1.5", "8", "12")))
            amount = (quantity * Decimal(price)).quantize(CENT, rounding=ROUND_HALF_UP)
            lines.append(
                {
                    "item_external_id": item_id,
                    "description": description,
                    "quantity": str(quantity),
                    "unit_price": price,
                    "amount": str(amount),
                    "tax_code": rng.choice(("TAX", "NON")),
                    "service_date": occurred.date().isoformat(),
                }
            )
        txn: date = occurred.date()
        return {
            "external_id": f"inv-{n:05d}",
            "customer_external_id": f"cust-{rng.randrange(ENTITIES_PER_REALM):05d}",
            "number": f"INV-{n:05d}",
            "txn_date": txn.isoformat(),
            "due_date": (txn + timedelta(days=30)).isoformat(),
            "currency": "USD",
            "lines": lines,
            "memo": "Thank you for your business. Payment due within 30 days.",
        }

    def many(self, phase: str, count: int) -> list[dict[str, Any]]:
        return [self.make(phase, i) for i in range(count)]


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# --- measurement ------------------------------------------------------------------------------


@dataclass(slots=True)
class PhaseResult:
    name: str
    events: int
    requests: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    api_cores: float | None = None
    bench_cores: float | None = None
    host_busy_pct: float | None = None

    @property
    def eps(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, pct: float) -> float:
        """Nearest-rank percentile of the per-request latencies, in ms (0 when none)."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
        return ordered[rank - 1]


async def run_concurrently(
    count: int, concurrency: int, job: Callable[[int, int], Awaitable[None]]
) -> float:
    """Run job(slot, index) for index 0..count-1 from `concurrency` tasks (slot = which task);
    returns the wall seconds it took."""
    next_index = 0

    async def worker(slot: int) -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            await job(slot, index)

    started = time.perf_counter()
    await asyncio.gather(*(worker(slot) for slot in range(min(concurrency, count))))
    return time.perf_counter() - started


class IntakeError(RuntimeError):
    pass


@asynccontextmanager
async def http_clients(
    base_url: str, key: str, concurrency: int, *, shared: bool
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`concurrency` HTTP/1.1 keep-alive connections to the API, as one client per task slot.

    By default each task has its own httpx.AsyncClient with a pool of one connection. With
    `shared`, all tasks use one client with a pool of `concurrency`: httpcore then checks
    every idle connection of the pool for readability on each request, which on a small
    machine makes the load generator itself the bottleneck (on the 2-CPU machine this was
    written on: GET /health 360 req/s with a shared pool of 64 against 970 with 64 clients).
    """
    # Forget idle connections before uvicorn does (its keep-alive timeout is 5 s): reusing one
    # the server is closing at that moment fails with ReadError between phases.
    per_client = concurrency if shared else 1
    limits = httpx.Limits(
        max_connections=per_client, max_keepalive_connections=per_client, keepalive_expiry=2.0
    )
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for _ in range(1 if shared else concurrency):
            client = httpx.AsyncClient(
                base_url=base_url, headers=headers, limits=limits, timeout=120.0
            )
            clients.append(await stack.enter_async_context(client))
        yield clients * concurrency if shared else clients


async def post_singles(
    clients: Sequence[httpx.AsyncClient], bodies: Sequence[bytes]
) -> tuple[float, list[float]]:
    latencies = [0.0] * len(bodies)

    async def one(slot: int, index: int) -> None:
        started = time.perf_counter()
        response = await clients[slot].post("/events", content=bodies[index])
        latencies[index] = (time.perf_counter() - started) * 1000
        if response.status_code != 202:
            raise IntakeError(f"POST /events answered {response.status_code}: {response.text}")

    seconds = await run_concurrently(len(bodies), len(clients), one)
    return seconds, latencies


async def post_batches(
    clients: Sequence[httpx.AsyncClient], batches: Sequence[tuple[int, bytes]]
) -> tuple[float, list[float]]:
    latencies = [0.0] * len(batches)

    async def one(slot: int, index: int) -> None:
        size, body = batches[index]
        started = time.perf_counter()
        response = await clients[slot].post("/events/batch", content=body)
        latencies[index] = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise IntakeError(f"POST /events/batch answered {response.status_code}")
        accepted = response.json().get("accepted")
        if accepted != size:
            raise IntakeError(f"batch of {size} accepted {accepted}: {response.text[:500]}")

    seconds = await run_concurrently(len(batches), len(clients), one)
    return seconds, latencies


def batch_bodies(events: Sequence[dict[str, Any]], size: int) -> list[tuple[int, bytes]]:
    chunks = [events[i : i + size] for i in range(0, len(events), size)]
    return [(len(chunk), encode({"events": list(chunk)})) for chunk in chunks]


async def reset_events(database_url: str) -> None:
    """Empty `events` (and rows that refer to it) and checkpoint it to disk, so that each
    timed phase starts from the same state."""
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        await conn.execute("TRUNCATE events CASCADE")
        # A role that may not checkpoint only makes the run a little noisier.
        with contextlib.suppress(asyncpg.PostgresError):
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def count_events(database_url: str) -> int:
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM events")
        return count
    finally:
        await conn.close()


def _metered(
    name: str, events: int, api_pid: int | None
) -> Callable[[Callable[[], Awaitable[tuple[float, list[float]]]]], Awaitable[PhaseResult]]:
    async def run(body: Callable[[], Awaitable[tuple[float, list[float]]]]) -> PhaseResult:
        meter = CpuMeter(api_pid)
        own_start = process_cpu_seconds(os.getpid(), with_children=False)
        meter.start()
        seconds, latencies = await body()
        meter.stop()
        own_end = process_cpu_seconds(os.getpid(), with_children=False)
        own = (own_end - own_start) / seconds if own_end is not None and own_start else None
        return PhaseResult(
            name,
            events,
            len(latencies),
            seconds,
            latencies,
            api_cores=meter.process_cores,
            bench_cores=own,
            host_busy_pct=meter.host_busy_pct,
        )

    return run


async def http_phases(
    base_url: str,
    api_pid: int,
    key: str,
    database_url: str,
    factory: EventFactory,
    args: argparse.Namespace,
) -> list[PhaseResult]:
    """Warm-up, then the timed single and batch phases against the running API."""
    singles = [encode(e) for e in factory.many("single", args.events)]
    batches = batch_bodies(factory.many("batch", args.events), args.batch_size)
    warm = factory.many("warmup", args.warmup * 2)
    warm_singles = [encode(e) for e in warm[: args.warmup]]
    warm_batches = batch_bodies(warm[args.warmup :], args.batch_size)

    async with http_clients(base_url, key, args.concurrency, shared=args.shared_pool) as clients:
        await post_singles(clients, warm_singles)
        await post_batches(clients, warm_batches)

        results = []
        await reset_events(database_url)
        results.append(
            await _metered("single", len(singles), api_pid)(lambda: post_singles(clients, singles))
        )
        stored = await count_events(database_url)
        if stored != len(singles):
            raise IntakeError(f"single phase stored {stored} of {len(singles)} events")

        await reset_events(database_url)
        results.append(
            await _metered("batch", args.events, api_pid)(lambda: post_batches(clients, batches))
        )
        stored = await count_events(database_url)
        if stored != args.events:
            raise IntakeError(f"batch phase stored {stored} of {args.events} events")
    return results


def ceiling_rows(events: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows the service would write for these events (its own validation and values)."""
    from app.events.service import EVENT_ADAPTER, row_values

    rows = []
    for raw in events:
        v = row_values(KEY_NAME, EVENT_ADAPTER.validate_python(raw))
        rows.append(
            (
                v["id"],
                v["source"],
                v["event_id"],
                v["realm_id"],
                v["entity_type"],
                v["external_id"],
                v["operation"],
                json.dumps(v["payload"]),
                v["payload_hash"],
                v["occurred_at"],
                v["status"],
                v["attempts"],
            )
        )
    return rows


async def ceiling_phase(
    database_url: str, factory: EventFactory, args: argparse.Namespace
) -> PhaseResult:
    """Bare asyncpg: one INSERT, one commit per row, `concurrency` connections and tasks."""
    rows = ceiling_rows(factory.many("ceiling", args.events))
    warm = ceiling_rows(factory.many("ceiling-warmup", args.warmup))
    pool = await asyncpg.create_pool(
        to_libpq_url(database_url), min_size=args.concurrency, max_size=args.concurrency
    )
    try:

        def inserter(
            source: Sequence[tuple[Any, ...]], latencies: list[float]
        ) -> Callable[[int, int], Awaitable[None]]:
            async def one(slot: int, index: int) -> None:
                (ident, src, eid, realm, etype, ext, op, payload, digest, occ, status, att) = (
                    source[index]
                )
                started = time.perf_counter()
                now = datetime.now(UTC)
                # Autocommit: the single statement is its own transaction and commit.
                inserted = await pool.fetchval(
                    INSERT_SQL,
                    *(ident, src, eid, realm, etype, ext, op, payload, digest, occ),
                    *(now, now, status, att, now),
                )
                latencies[index] = (time.perf_counter() - started) * 1000
                if inserted is None:
                    raise IntakeError(f"ceiling row {eid} was not inserted")

            return one

        await run_concurrently(len(warm), args.concurrency, inserter(warm, [0.0] * len(warm)))
        await reset_events(database_url)

        async def timed() -> tuple[float, list[float]]:
            latencies = [0.0] * len(rows)
            seconds = await run_concurrently(len(rows), args.concurrency, inserter(rows, latencies))
            return seconds, latencies

        return await _metered("ceiling", len(rows), None)(timed)
    finally:
        await pool.close()


async def remove_redis_jobs(redis_url: str, realms: Sequence[str]) -> None:
    """Remove the sync jobs this run enqueued on a shared (configured) Redis."""
    from redis.asyncio import Redis

    client: Redis = Redis.from_url(redis_url)
    try:
        for realm in realms:
            keys = [k async for k in client.scan_iter(match=f"arq:job:sync:{realm}:*")]
            if keys:
                queued = [k.decode().removeprefix("arq:job:") for k in keys]
                await client.zrem("arq:queue", *queued)
                await client.delete(*keys)
    finally:
        await client.aclose()


# --- report -----------------------------------------------------------------------------------


def _fmt(value: float | None, width: int, spec: str, suffix: str = "") -> str:
    text = "-" if value is None else format(value, spec) + suffix
    return text.rjust(width)


def report(results: Sequence[PhaseResult], batch_size: int, concurrency: int) -> str:
    header = (
        f"{'phase':<8} {'events':>7} {'requests':>8} {'seconds':>8} {'eps':>8} "
        f"{'p50_ms':>8} {'p99_ms':>8} {'api_cpu':>8} {'bench_cpu':>9} {'host_busy':>9}"
    )
    lines = [
        f"concurrency={concurrency} batch_size={batch_size} cpus={os.cpu_count()} "
        "(api_cpu / bench_cpu in cores; host_busy in % of all cores)",
        header,
        "-" * len(header),
    ]
    for r in results:
        lines.append(
            f"{r.name:<8} {r.events:>7} {r.requests:>8} {r.seconds:>8.2f} {r.eps:>8.0f} "
            f"{r.percentile(50):>8.1f} {r.percentile(99):>8.1f} {_fmt(r.api_cores, 8, '.2f')} "
            f"{_fmt(r.bench_cores, 9, '.2f')} {_fmt(r.host_busy_pct, 9, '.0f', '%')}"
        )
    by_name = {r.name: r for r in results}
    single, batch, ceiling = by_name["single"], by_name["batch"], by_name["ceiling"]
    ratio = single.eps / ceiling.eps if ceiling.eps else 0.0
    factor = batch.eps / single.eps if single.eps else 0.0
    lines.append("")
    lines.append(
        f"aim ratio >= {AIM_RATIO}: {'met' if ratio >= AIM_RATIO else 'MISSED'} ({ratio:.2f}); "
        f"aim batch >= {AIM_BATCH_FACTOR:g}x single: "
        f"{'met' if factor >= AIM_BATCH_FACTOR else 'MISSED'} ({factor:.1f}x)"
    )
    lines.append(
        f"bench-ingest: single_eps={single.eps:.0f} batch_eps={batch.eps:.0f} "
        f"p50_ms={single.percentile(50):.1f} p99_ms={single.percentile(99):.1f} "
        f"ceiling_eps={ceiling.eps:.0f} ratio={ratio:.2f}"
    )
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def _run(coro: Awaitable[Any]) -> Any:
    """Run on uvloop when available (as uvicorn does), so the client costs little CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> list[PhaseResult]:
    from app.migrate import migrate_to_head

    factory = EventFactory(secrets.token_hex(4))
    with throwaway_servers("bench_ingest") as servers:
        print(f"servers ready (data dir {servers.data_dir}); migrating ...", flush=True)
        migrate_to_head(servers.settings())
        key: str = _run(create_api_key(servers.settings(), KEY_NAME, "events:write"))
        results = _http(servers, key, factory, args)
        print("API stopped; measuring the asyncpg ceiling ...", flush=True)
        results.append(_run(ceiling_phase(servers.database_url, factory, args)))
        if not servers.embedded_redis:
            _run(remove_redis_jobs(servers.redis_url, factory.realms))
    return results


def _http(
    servers: Servers, key: str, factory: EventFactory, args: argparse.Namespace
) -> list[PhaseResult]:
    env = servers.env(LOG_LEVEL="WARNING")
    with api_process(env, servers.data_dir) as api:
        print(f"API up at {api.base_url} (pid {api.pid}); sending events ...", flush=True)
        results: list[PhaseResult] = _run(
            http_phases(api.base_url, api.pid, key, servers.database_url, factory, args)
        )
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=20_000, help="events per phase")
    parser.add_argument("--concurrency", type=int, default=64, help="clients and connections")
    parser.add_argument("--batch-size", type=int, default=100, help="events per batch request")
    parser.add_argument(
        "--shared-pool",
        action="store_true",
        help="one httpx client with a pool of CONCURRENCY (default: one client per task)",
    )
    parser.add_argument("--warmup", type=int, default=500, help="warm-up events per phase")
    args = parser.parse_args(argv)
    for name in ("events", "concurrency", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = run(args)
    except IntakeError as err:
        print(f"bench-ingest: failed: {err}", file=sys.stderr)
        return 1
    print(report(results, args.batch_size, args.concurrency))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
