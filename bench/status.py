"""bench-status: GET /sync-status with 1,000,000 events in the table.

Fills a throwaway database with events over 20 realms (most synced, some superseded, dead,
pending, retrying and waiting), then times GET /sync-status (all realms and one realm)
against GET /health/ready measured in the same run, through a real uvicorn process. Prints
p50/p95 latencies and the ratio to the baseline; the last line is
`bench-status: events=N p50_ms=N p95_ms=N ratio=N`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence

import httpx
from sqlalchemy import text

from app.db import create_engine
from bench._procs import api_process, create_api_key, throwaway_servers

REALMS = 20
# status -> share of the events
MIX = [
    ("synced", 0.90),
    ("superseded", 0.07),
    ("dead", 0.01),
    ("pending", 0.01),
    ("retrying", 0.005),
    ("waiting_dependency", 0.005),
]

FILL = """
INSERT INTO events (id, source, event_id, realm_id, entity_type, external_id, operation,
                    payload, payload_hash, occurred_at, received_at, updated_at, status,
                    attempts, next_attempt_at, last_error, synced_at, qbo_id, replays)
SELECT gen_random_uuid(), 'bench', 'e' || g, (9130000000000000 + g % CAST(:realms AS int))::text,
       'customer', 'c' || g, 'upserted', '{}'::jsonb, md5(g::text),
       now() - make_interval(secs => g % 86400), now() - make_interval(secs => g % 86400),
       now() - make_interval(secs => g % 86400), CAST(:status AS text), 0, now(),
       CASE WHEN CAST(:status AS text) IN ('dead', 'retrying') THEN
         '{"category": "permanent", "code": "6070", "message": "Amount mismatch"}'::jsonb END,
       CASE WHEN CAST(:status AS text) = 'synced' THEN now() - make_interval(secs => g % 86400) END,
       CASE WHEN CAST(:status AS text) = 'synced' THEN g::text END, 0
FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) AS g
"""


async def fill(database_url: str, total: int) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    start = 0
    try:
        for status, share in MIX:
            count = int(total * share)
            chunk = 100_000
            for offset in range(0, count, chunk):
                n = min(chunk, count - offset)
                async with engine.begin() as conn:
                    await conn.execute(
                        text(FILL),
                        {"realms": REALMS, "status": status, "start": start, "stop": start + n - 1},
                    )
                start += n
            print(f"  {status}: {count}", flush=True)
        async with engine.begin() as conn:
            await conn.execute(text("SELECT event_counts_compact()"))
            await conn.execute(text("ANALYZE events"))
    finally:
        await engine.dispose()


async def timed(client: httpx.AsyncClient, path: str, rounds: int) -> list[float]:
    out: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = await client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")
    return out


def _pct(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


async def measure(base_url: str, key: str, rounds: int) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        await timed(client, "/sync-status", 3)  # warm-up
        return {
            "GET /health/ready (baseline)": await timed(client, "/health/ready", rounds),
            "GET /sync-status (20 realms)": await timed(client, "/sync-status", rounds),
            "GET /sync-status?realm_id=...": await timed(
                client, "/sync-status?realm_id=9130000000000007", rounds
            ),
        }


def run(args: argparse.Namespace) -> str:
    from app.migrate import migrate_to_head

    with throwaway_servers("bench_status") as servers:
        print(f"servers ready (data dir {servers.data_dir}); migrating ...", flush=True)
        migrate_to_head(servers.settings())
        print(f"filling {args.events} events ...", flush=True)
        started = time.monotonic()
        asyncio.run(fill(servers.database_url, args.events))
        print(f"filled in {time.monotonic() - started:.0f} s", flush=True)
        key: str = asyncio.run(create_api_key(servers.settings(), "oncall", "status:read"))
        with api_process(servers.env(LOG_LEVEL="WARNING"), servers.data_dir) as api:
            results = asyncio.run(measure(api.base_url, key, args.rounds))
    lines = ["", f"{'request':34} {'p50 ms':>8} {'p95 ms':>8}"]
    for name, values in results.items():
        lines.append(f"{name:34} {statistics.median(values):8.1f} {_pct(values, 95):8.1f}")
    base = statistics.median(results["GET /health/ready (baseline)"])
    status = results["GET /sync-status (20 realms)"]
    lines.append(
        f"bench-status: events={args.events} p50_ms={statistics.median(status):.1f}"
        f" p95_ms={_pct(status, 95):.1f} ratio={statistics.median(status) / base:.1f}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.status", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args(argv)
    if args.events < 1000 or args.rounds < 1:
        parser.error("at least 1000 events and 1 round")
    print(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
