"""bench-sync: the per-realm QBO budget under a backlog, with real processes.

Runs the API, two arq workers and the QBO emulator (Intuit's limits on, its webhooks sent
to the API as `make run` wires them) as processes on PostgreSQL and Redis (embedded, or
DATABASE_URL / REDIS_URL). Realm A receives 10 items, 2,000 customers, 2,000 invoices and
1,000 payments as fast as intake takes them; realm B receives one invoice every 2 s
throughout. Prints per realm the QBO requests per minute (and its ratio to Intuit's 500),
records synced per minute, the 429s the emulator served, B's latency from intake to synced,
the workers' CPU and peak RSS, and QBO calls per synced record of A (every Accounting API
call, reads included: the webhooks of our own writes must not cost a read each). The last
line is `bench-sync: utilization=N throttled=N records_per_min=N b_p95_s=N
calls_per_record=N`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import func, select

from app.config import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, Settings
from app.connections.service import save_connection
from app.core.cipher import TokenCipher
from app.db import create_engine, create_session_factory
from app.drift.models import ChangeStatus, QboChange
from app.events.models import FINAL_STATUSES, Event, EventStatus
from app.qbo import Limits, RealmBudget, read_company, token_set
from bench._procs import (
    REPO_ROOT,
    ApiProcess,
    Servers,
    api_process,
    create_api_key,
    free_port,
    process_cpu_seconds,
    stop_process,
    throwaway_servers,
)

INTUIT_PER_MINUTE = 500
B_INTERVAL_S = 2.0
INTAKE_BATCH = 500
BACKLOG = 300
# After A is synced, wait at most this long for the webhooks of its writes to be worked off.
DRAIN_CHANGES_S = 180.0
# Calls that read a record from QBO (GET <entity>/<id>), by the emulator's endpoint names.
NOT_READS = frozenset({"GET query", "GET cdc", "GET preferences", "GET companyinfo"})


def _events(realm: str, customers: int, invoices: int, payments: int) -> list[dict[str, Any]]:
    at = "2026-11-25T10:00:00Z"

    def env(kind: str, ext: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_id": f"{realm}-{kind}-{ext}",
            "realm_id": realm,
            "type": f"{kind}.upserted",
            "occurred_at": at,
            "data": {"external_id": ext, **data},
        }

    out = [env("item", f"i{n}", {"name": f"Service {n}", "unit_price": "10.00"}) for n in range(10)]
    out += [
        env("customer", f"c{n}", {"display_name": f"Customer {n}", "email": f"c{n}@bench.test"})
        for n in range(customers)
    ]
    for n in range(invoices):
        line = {
            "item_external_id": f"i{n % 10}",
            "quantity": "2",
            "unit_price": "10.00",
            "amount": "20.00",
        }
        out.append(
            env(
                "invoice",
                f"inv{n}",
                {
                    "customer_external_id": f"c{n % customers}",
                    "txn_date": "2026-11-25",
                    "lines": [line],
                },
            )
        )
    for n in range(payments):
        out.append(
            env(
                "payment",
                f"pay{n}",
                {
                    "customer_external_id": f"c{n % customers}",
                    "date": "2026-11-26",
                    "total": "20.00",
                    "applied_to": [{"invoice_external_id": f"inv{n}", "amount": "20.00"}],
                },
            )
        )
    return out


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, cwd=REPO_ROOT, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        stop_process(proc)


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def connect_company(settings: Settings, emulator: str, name: str) -> str:
    """A new emulator company, connected the way the OAuth callback connects one."""
    async with httpx.AsyncClient(base_url=emulator, timeout=30) as client:
        realm = (await client.post("/admin/companies", json={"name": name})).json()["realm_id"]
        minted = (
            await client.post(
                f"/admin/companies/{realm}/tokens",
                json={"client_id": EMULATOR_CLIENT_ID, "client_secret": EMULATOR_CLIENT_SECRET},
            )
        ).json()
    tokens = token_set(minted, None)
    # Through the realm's budget, as the OAuth callback reads it: these calls count too.
    redis = Redis.from_url(settings.server_urls()[1])
    engine = create_engine(settings.server_urls()[0], pool_size=1, max_overflow=0)
    try:
        budget = RealmBudget(redis, Limits.from_settings(settings))
        profile = await read_company(settings, realm, tokens.access_token, budget=budget)
        async with create_session_factory(engine)() as session:
            cipher = TokenCipher.from_settings(settings)
            await save_connection(session, settings, realm, tokens, profile, cipher)
            await session.commit()
    finally:
        await redis.aclose()
        await engine.dispose()
    return str(realm)


async def post_all(api: str, key: str, events: list[dict[str, Any]]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api, timeout=120, headers=headers) as client:
        for start in range(0, len(events), INTAKE_BATCH):
            chunk = events[start : start + INTAKE_BATCH]
            answer = await client.post("/events/batch", json={"events": chunk})
            body = answer.json()
            if answer.status_code != 200 or body["rejected"]:
                raise RuntimeError(f"intake refused events: {answer.status_code} {str(body)[:300]}")


async def trickle_b(api: str, key: str, realm: str, stop: asyncio.Event) -> int:
    """Realm B: a customer and an item, then one invoice every 2 s until `stop`."""
    headers = {"Authorization": f"Bearer {key}"}
    sent = 0
    async with httpx.AsyncClient(base_url=api, timeout=30, headers=headers) as client:
        for body in _events(realm, 1, 0, 0)[:1] + _events(realm, 1, 0, 0)[10:]:
            (await client.post("/events", json=body)).raise_for_status()
        while not stop.is_set():
            line = {
                "item_external_id": "i0",
                "quantity": "1",
                "unit_price": "10.00",
                "amount": "10.00",
            }
            body = {
                "event_id": f"b-inv{sent}",
                "realm_id": realm,
                "type": "invoice.upserted",
                "occurred_at": "2026-11-25T10:00:00Z",
                "data": {
                    "external_id": f"b-inv{sent}",
                    "customer_external_id": "c0",
                    "txn_date": "2026-11-25",
                    "lines": [line],
                },
            }
            (await client.post("/events", json=body)).raise_for_status()
            sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), B_INTERVAL_S)
    return sent


async def open_events(settings: Settings, realm: str) -> int:
    return (await progress(settings, realm))[0]


async def progress(settings: Settings, realm: str) -> tuple[int, int, int]:
    """(open events, synced events, pending QBO change sightings) of a realm."""
    engine = create_engine(settings.server_urls()[0], pool_size=1, max_overflow=0)
    try:
        async with create_session_factory(engine)() as session:
            finals = [s.value for s in FINAL_STATUSES]
            left = await session.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.realm_id == realm, Event.status.not_in(finals))
            )
            synced = await session.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.realm_id == realm, Event.status == EventStatus.SYNCED.value)
            )
            changes = await session.scalar(
                select(func.count())
                .select_from(QboChange)
                .where(QboChange.realm_id == realm, QboChange.status == ChangeStatus.PENDING.value)
            )
            return int(left or 0), int(synced or 0), int(changes or 0)
    finally:
        await engine.dispose()


async def event_rows(settings: Settings, realm: str) -> list[Any]:
    engine = create_engine(settings.server_urls()[0], pool_size=1, max_overflow=0)
    try:
        async with create_session_factory(engine)() as session:
            rows = await session.execute(
                select(Event.entity_type, Event.status, Event.received_at, Event.synced_at).where(
                    Event.realm_id == realm
                )
            )
            return list(rows)
    finally:
        await engine.dispose()


async def counters(emulator: str, realm: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=emulator, timeout=30) as client:
        answer: dict[str, Any] = (await client.get(f"/admin/companies/{realm}/counters")).json()
        return answer


def admitted_requests(counts: dict[str, Any]) -> int:
    """Requests QBO admitted (429s are refusals, not uses of the budget)."""
    return sum(int(n) for status, n in counts["by_status"].items() if status != "429")


def reads(counts: dict[str, Any]) -> int:
    """Reads of one record by id (`GET <entity>`), 429s included."""
    return sum(
        int(n)
        for endpoint, n in counts["by_endpoint"].items()
        if endpoint.startswith("GET ") and endpoint not in NOT_READS
    )


async def scenario(
    args: argparse.Namespace,
    settings: Settings,
    emulator: str,
    api: str,
    key: str,
    workers: list[int],
) -> dict[str, Any]:
    realm_a = await connect_company(settings, emulator, "Backlog Books")
    realm_b = await connect_company(settings, emulator, "Steady Books")
    events_a = _events(realm_a, args.customers, args.invoices, args.payments)
    cpu_start = [process_cpu_seconds(pid, with_children=False) or 0.0 for pid in workers]
    stop_b = asyncio.Event()
    b_task = asyncio.create_task(trickle_b(api, key, realm_b, stop_b))
    started = time.monotonic()
    await post_all(api, key, events_a)
    intake_s = time.monotonic() - started
    print(f"realm A: {len(events_a)} events accepted in {intake_s:.1f} s; syncing ...", flush=True)
    samples: list[tuple[float, int, int]] = []
    # (time, requests, reads, synced) of A: calls per synced record in steady state.
    calls: list[tuple[float, int, int, int]] = []
    deadline = started + args.timeout
    while time.monotonic() < deadline:
        count = await counters(emulator, realm_a)
        served = admitted_requests(count)
        left, synced, _ = await progress(settings, realm_a)
        now = time.monotonic() - started
        samples.append((now, served, left))
        calls.append((now, served, reads(count), synced))
        if left == 0:
            break
        if len(samples) % 6 == 0:
            print(f"  {samples[-1][0]:6.0f} s: {left} events of A still open", flush=True)
        await asyncio.sleep(5)
    a_done = time.monotonic() - started
    # The webhooks of A's last writes are still being worked off: wait for them, so the
    # whole run's calls include every read they cost.
    drain_until = time.monotonic() + DRAIN_CHANGES_S
    pending_changes = (await progress(settings, realm_a))[2]
    for _ in range(int(DRAIN_CHANGES_S)):
        if pending_changes == 0 or time.monotonic() >= drain_until:
            break
        await asyncio.sleep(2)
        pending_changes = (await progress(settings, realm_a))[2]
    stop_b.set()
    b_sent = await b_task
    # Let B's last invoice through.
    for _ in range(60):
        if await open_events(settings, realm_b) == 0:
            break
        await asyncio.sleep(0.5)
    cpu = [
        (process_cpu_seconds(pid, with_children=False) or 0.0) - start
        for pid, start in zip(workers, cpu_start, strict=True)
    ]
    rows_a = await event_rows(settings, realm_a)
    rows_b = await event_rows(settings, realm_b)
    count_a = await counters(emulator, realm_a)
    count_b = await counters(emulator, realm_b)
    return {
        "realm_a": realm_a,
        "a_done_s": a_done,
        "intake_s": intake_s,
        "samples": samples,
        "calls": calls,
        "pending_changes": pending_changes,
        "rows_a": rows_a,
        "rows_b": rows_b,
        "b_sent": b_sent,
        "count_a": count_a,
        "count_b": count_b,
        "cpu": cpu,
        "rss": [peak_rss_mb(pid) for pid in workers],
    }


def _pct(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def report(result: dict[str, Any]) -> str:
    minutes = result["a_done_s"] / 60
    served_a = admitted_requests(result["count_a"])
    per_min_a = served_a / minutes
    samples: list[tuple[float, int, int]] = result["samples"]
    # The busiest 60 s between two samples.
    windows = [
        (n2 - n1) * 60 / (t2 - t1)
        for i, (t1, n1, _) in enumerate(samples)
        for t2, n2, _ in samples[i + 1 :]
        if 58 <= t2 - t1 <= 62
    ]
    # Utilization while A had a backlog (BACKLOG or more open events): at the very end too
    # few records are left to need the budget, and no scheduler could use it.
    backlog = [(t, n) for t, n, left in samples if left >= BACKLOG]
    if len(backlog) >= 2 and backlog[-1][0] > backlog[0][0]:
        (t1, n1), (t2, n2) = backlog[0], backlog[-1]
        backlog_per_min = (n2 - n1) * 60 / (t2 - t1)
        backlog_s = t2 - t1
    else:
        backlog_per_min, backlog_s = per_min_a, result["a_done_s"]
    synced_a = [r for r in result["rows_a"] if r.status == "synced"]
    not_synced = len(result["rows_a"]) - len(synced_a)
    records_per_min = len(synced_a) / minutes
    b_lat = [
        (r.synced_at - r.received_at).total_seconds()
        for r in result["rows_b"]
        if r.entity_type == "invoice" and r.synced_at is not None
    ]
    count_a, count_b = result["count_a"], result["count_b"]
    throttled = int(count_a["throttled_429"]) + int(count_b["throttled_429"])
    minutes_b = max(result["a_done_s"] / 60, 1e-9)
    served_b = admitted_requests(count_b) / minutes_b
    synced_b = len([r for r in result["rows_b"] if r.status == "synced"]) / minutes_b
    batches_a = count_a["by_endpoint"].get("POST batch", 0)
    per_record, reads_per_record, steady_s = _calls_per_record(result["calls"])
    total_reads = reads(count_a)
    overall = admitted_requests(count_a) / max(len(synced_a), 1)
    p50 = statistics.median(b_lat) if b_lat else float("nan")
    p95 = _pct(b_lat, 95)
    workers = ", ".join(
        f"CPU {c:.1f} s ({c / result['a_done_s']:.2f} cores), peak RSS {r or 0:.0f} MB"
        for c, r in zip(result["cpu"], result["rss"], strict=True)
    )
    lines = [
        "",
        "realm  QBO req/min  ratio/500  records/min  429s  batch calls",
        f"A      {per_min_a:11.1f}  {per_min_a / INTUIT_PER_MINUTE:9.3f}  {records_per_min:11.1f}"
        f"  {count_a['throttled_429']:4d}  {batches_a:11d}",
        f"B      {served_b:11.1f}  {served_b / INTUIT_PER_MINUTE:9.3f}  {synced_b:11.1f}"
        f"  {count_b['throttled_429']:4d}",
        "",
        f"A: {len(result['rows_a'])} events ({not_synced} not synced),"
        f" intake {result['intake_s']:.1f} s, all synced after {result['a_done_s']:.1f} s;"
        f" busiest minute {max(windows, default=0):.0f} requests",
        f"A while it had a backlog (>= {BACKLOG} open events, {backlog_s:.0f} s):"
        f" {backlog_per_min:.1f} requests/min",
        f"B: {len(b_lat)} invoices, intake->synced p50 {p50:.2f} s, p95 {p95:.2f} s,"
        f" max {max(b_lat, default=float('nan')):.2f} s",
        f"workers: {workers}",
        f"A QBO calls per synced record: {per_record:.3f} in steady state ({steady_s:.0f} s,"
        f" {reads_per_record:.3f} of them reads); whole run {overall:.3f}"
        f" ({total_reads} reads, {result['pending_changes']} sightings still pending)",
        f"bench-sync: utilization={backlog_per_min / INTUIT_PER_MINUTE:.3f} throttled={throttled}"
        f" records_per_min={records_per_min:.0f} b_p95_s={p95:.2f}"
        f" calls_per_record={per_record:.3f}",
    ]
    return "\n".join(lines)


def _calls_per_record(calls: list[tuple[float, int, int, int]]) -> tuple[float, float, float]:
    """(calls, reads) per synced record of A in steady state, and that span in seconds.

    Steady state: from the first sample with records synced to the last sample before A's
    last 10% of records, so that neither the start (the first writes, their webhooks not yet
    back) nor the tail (the last webhooks worked off with no writes left) skews it."""
    if not calls:
        return float("nan"), float("nan"), 0.0
    total = calls[-1][3]
    window = [c for c in calls if 0 < c[3] <= 0.9 * total]
    if len(window) < 2 or window[-1][3] <= window[0][3]:
        window = [calls[0], calls[-1]]
    (t1, n1, r1, s1), (t2, n2, r2, s2) = window[0], window[-1]
    synced = max(s2 - s1, 1)
    return (n2 - n1) / synced, (r2 - r1) / synced, t2 - t1


@dataclass(frozen=True, slots=True)
class Stack:
    """The service running as processes: servers, emulator, API, two workers, an API key."""

    servers: Servers
    settings: Settings
    emulator: str
    emulator_pid: int
    api: ApiProcess
    worker_pids: tuple[int, int]
    key: str


@contextlib.contextmanager
def service_stack(prefix: str) -> Iterator[Stack]:
    """Throw-away servers (migrated), the emulator (Intuit's limits on), the API and two
    workers as real processes, and an API key; everything is stopped and removed at exit."""
    from app.migrate import migrate_to_head

    with throwaway_servers(prefix) as servers:
        print(f"servers ready (data dir {servers.data_dir}); migrating ...", flush=True)
        migrate_to_head(servers.settings())
        key: str = asyncio.run(
            create_api_key(servers.settings(), "bench", "events:write,events:read")
        )
        port = free_port()
        emulator = f"http://127.0.0.1:{port}"
        api_port = free_port()
        # The emulator's webhooks go to the API, signed with a fresh verifier token, as
        # `make run` wires them.
        verifier = secrets.token_urlsafe(24)
        env = servers.env(
            LOG_LEVEL="WARNING", EMULATOR_URL=emulator, QBO_WEBHOOK_VERIFIER_TOKEN=verifier
        )
        settings = servers.settings(emulator_url=emulator)
        log = servers.data_dir
        emu_args = [
            sys.executable,
            "-m",
            "app",
            "emulator",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--webhook-url",
            f"http://127.0.0.1:{api_port}/webhooks/intuit",
            # One argument: a token may begin with "-", which argparse takes for an option.
            f"--webhook-verifier-token={verifier}",
        ]
        worker_args = [sys.executable, "-m", "app", "worker"]
        with (
            process(emu_args, env, log / "emulator.log") as emu,
            api_process(env, log, port=api_port) as api,
            process(worker_args, env, log / "worker-1.log") as w1,
            process(worker_args, env, log / "worker-2.log") as w2,
        ):
            _wait_http(f"{emulator}/admin/companies")
            print(f"API {api.base_url}, emulator {emulator}, workers {w1.pid} {w2.pid}", flush=True)
            yield Stack(servers, settings, emulator, emu.pid, api, (w1.pid, w2.pid), key)


def run(args: argparse.Namespace) -> str:
    with service_stack("bench_sync") as stack:
        result = asyncio.run(
            scenario(
                args,
                stack.settings,
                stack.emulator,
                stack.api.base_url,
                stack.key,
                list(stack.worker_pids),
            )
        )
    return report(result)


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sync", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for realm A")
    args = parser.parse_args(argv)
    if min(args.customers, args.invoices) < 1 or args.payments > args.invoices:
        parser.error("need customers and invoices, and no more payments than invoices")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    print(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
