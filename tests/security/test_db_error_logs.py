"""An unhandled database error is logged once, as its shape: never the bound parameters
(callers' names and e-mails), never a line of megabytes. Through the API served by uvicorn
(as in production, where the server logs what the app lets escape) and through a worker."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
import uvicorn
from arq.worker import create_worker
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import app.worker.settings
from app.logs import JsonFormatter, configure_logging, describe_error, format_exception
from app.worker.settings import worker_settings
from app.worker.tasks import sweep_due_events
from tests.fixtures.world import World
from tests.support.factories import customer_event
from tests.support.helpers import free_port, job_context

# What the test trigger says; every log line that reports the error carries it.
REFUSAL = "refused by the test trigger"
MAX_LINE = 8 * 1024


class Lines(logging.Handler):
    """Every log record of every logger, formatted as the service prints it (one JSON line)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.formatter_ = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.formatter_.format(record))


@contextmanager
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lines]:
    """Collect every record from now on, also after a worker's start-up sets up logging."""
    handler = Lines()
    root = logging.getLogger()
    level = root.level

    def configure_and_keep(log_level: str = "INFO") -> None:
        configure_logging(log_level)
        root.addHandler(handler)

    monkeypatch.setattr(app.worker.settings, "configure_logging", configure_and_keep)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@asynccontextmanager
async def failing_inserts(engine: AsyncEngine, table: str) -> AsyncIterator[None]:
    """Every INSERT into `table` fails in PostgreSQL (a trigger raises), until the end."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$"
            )
        )
        await conn.execute(
            text(
                f"CREATE TRIGGER test_refuse BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION test_refuse()"
            )
        )
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER test_refuse ON {table}"))
            await conn.execute(text("DROP FUNCTION test_refuse()"))


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app behind a real uvicorn on a free port (its lifespan already runs)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def unique_customer(external_id: str, marker: str) -> dict[str, object]:
    """A customer whose name and e-mail (never its ids) carry `marker`."""
    return customer_event(
        external_id,
        data={
            "display_name": f"Zebulon {marker} {external_id[-4:]}",
            "email": f"zebulon.{marker}@example.com",
            "billing_address": {
                "line1": "Flat 1 " + "x" * 480,
                "city": f"Town {marker}",
                "country": "GB",
            },
        },
    )


def assert_logged_once_without(lines: list[str], *private: str) -> None:
    reports = [line for line in lines if REFUSAL in line]
    assert len(reports) == 1, reports
    for line in lines:
        for value in private:
            assert value not in line, line[:2000]
        assert len(line) <= MAX_LINE, f"{len(line)} characters: {line[:2000]}"


@pytest.mark.parametrize("count", [1, 200])
async def test_an_unhandled_database_error_of_a_request_is_logged_once_without_payload(
    app: FastAPI, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    marker = secrets.token_hex(8)
    events = [unique_customer(f"cust-{i:04}", marker) for i in range(count)]
    with captured(monkeypatch) as logs:
        async with (
            failing_inserts(app.state.engine, "events"),
            served(app) as base,
            httpx.AsyncClient(base_url=base) as http,
        ):
            if count == 1:
                answer = await http.post("/events", json=events[0], headers=auth)
            else:
                answer = await http.post("/events/batch", json={"events": events}, headers=auth)

    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert marker not in answer.text
    assert REFUSAL not in answer.text  # the problem says nothing of the database
    assert_logged_once_without(logs.lines, marker)
    report = next(line for line in logs.lines if REFUSAL in line)
    assert "INSERT INTO events" in report  # the statement's shape is what an operator needs


async def test_an_unhandled_database_error_of_a_worker_is_logged_once_without_payload(
    world: World, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    realm = (await world.connect()).realm
    marker = secrets.token_hex(8)
    event = unique_customer("cust-0001", marker)
    event["realm_id"] = realm
    answer = await world.client.post("/events", json=event, headers=world.auth)
    assert answer.status_code == 202, answer.text

    # The customer reaches QBO; storing its mapping (with the fields QBO answered) fails.
    with captured(monkeypatch) as logs:
        async with failing_inserts(app.state.engine, "entity_mappings"):
            async with job_context(world.settings, world.redis) as ctx:
                await sweep_due_events(ctx)
            worker = create_worker(
                worker_settings(world.settings, world.books.transport),
                burst=True,
                poll_delay=0.01,
                cron_jobs=[],
                handle_signals=False,
            )
            try:
                await asyncio.wait_for(worker.async_run(), timeout=60)
            finally:
                await worker.close()
    assert [r for r in await world.books.records(realm, "customers") if marker in r["DisplayName"]]
    assert_logged_once_without(logs.lines, marker)


@pytest.mark.parametrize(
    ("statement", "sqlstate"),
    [
        # asyncpg refuses the argument itself: `invalid input for query argument $1: '...'`
        ("SELECT CAST(:v AS uuid)", "22000"),
        # PostgreSQL does: `invalid input syntax for type uuid: "..."`
        ("SELECT CAST(CAST(:v AS text) AS uuid)", "22P02"),
    ],
)
async def test_a_value_quoted_in_the_database_message_is_cut_out(
    app: FastAPI, statement: str, sqlstate: str
) -> None:
    marker = secrets.token_hex(8)
    engine: AsyncEngine = app.state.engine
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement), {"v": f"zebulon.{marker}"})
    except Exception as err:
        caught = err
    assert marker in str(caught)  # the message quotes the bad value
    line = describe_error(caught)
    assert marker not in line
    assert f"SQLSTATE {sqlstate}" in line
    assert "[SQL: SELECT CAST(" in line
    assert marker not in format_exception(caught)


async def test_a_row_the_database_refused_is_not_logged(app: FastAPI) -> None:
    marker = secrets.token_hex(8)
    engine: AsyncEngine = app.state.engine
    statement = text("INSERT INTO seen (email) VALUES (:e)")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TEMPORARY TABLE seen (email text UNIQUE)"))
            await conn.execute(statement, {"e": f"zebulon.{marker}@example.com"})
            await conn.execute(statement, {"e": f"zebulon.{marker}@example.com"})
    except Exception as err:
        caught = err
    # The driver's DETAIL names the row: `Key (email)=(zebulon...) already exists.`
    assert marker in str(getattr(caught, "orig", None).detail)  # type: ignore[union-attr]
    line = describe_error(caught)
    assert line.startswith("IntegrityError (UniqueViolationError, SQLSTATE 23505): duplicate key")
    assert marker not in line
    assert marker not in format_exception(caught)
