"""The unit of work (app.uow) against the real PostgreSQL and Redis the suite starts: its
hints and notices leave only after its transaction committed, and never after a rollback;
the routers' dependency commits before the answer and hints after it."""

from __future__ import annotations

import pytest
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Message, Scope

from app.core.hints import CALLBACK_DELIVERY, sync_job_id
from app.core.keys import EntityKey
from app.deps import UnitOfWorkDep
from app.security import ApiKey, create_api_key
from app.security import Scope as KeyScope
from app.uow import Hints, UnitOfWork, send_hints, unit_of_work
from tests.support.helpers import asgi_client

REALM = "9130000000000021"
OTHER = "9130000000000022"


class WorkFailed(Exception):
    """Raised inside a unit of work by these tests."""


async def _queued(redis: ArqRedis) -> set[str]:
    """Ids of the jobs waiting in Redis."""
    keys = await redis.keys(job_key_prefix + "*")
    return {k.decode().removeprefix(job_key_prefix) for k in keys}


async def _key_names(factory: async_sessionmaker[AsyncSession]) -> set[str]:
    async with factory() as session:
        return set(await session.scalars(select(ApiKey.name)))


async def _add_key(uow: UnitOfWork, name: str) -> None:
    await create_api_key(uow.session, name, [KeyScope.EVENTS_READ])


async def test_hints_and_notices_leave_after_the_commit(
    session_factory: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    async with unit_of_work(session_factory, redis) as uow:
        await _add_key(uow, "committed")
        uow.hint_sync([EntityKey(REALM, "customer", "c-1"), EntityKey(REALM, "item", "i-1")])
        uow.hint_changes([OTHER])
        uow.hint_cdc([OTHER])
        uow.notice()
        assert await _queued(redis) == set()
    assert "committed" in await _key_names(session_factory)
    assert await _queued(redis) == {
        sync_job_id(REALM),
        f"changes:{OTHER}",
        f"cdc:{OTHER}",
        CALLBACK_DELIVERY.job_id,
    }
    # One pump job for the realm, however many of its records were hinted.
    assert uow.sent == 3


async def test_a_rollback_drops_the_hints_and_notices(
    session_factory: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    opened: list[UnitOfWork] = []

    async def work() -> None:
        async with unit_of_work(session_factory, redis) as uow:
            opened.append(uow)
            await _add_key(uow, "rolled-back")
            uow.hint_realms([REALM])
            uow.hint_changes([REALM])
            uow.notice()
            raise WorkFailed

    with pytest.raises(WorkFailed):
        await work()
    assert "rolled-back" not in await _key_names(session_factory)
    assert await _queued(redis) == set()
    assert opened[0].sent == 0


async def test_each_commit_sends_what_was_raised_since_the_last(
    session_factory: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    queued_after_first: list[set[str]] = []

    async def work() -> None:
        async with unit_of_work(session_factory, redis) as uow:
            await _add_key(uow, "first")
            uow.hint_realms([REALM])
            await uow.commit()
            queued_after_first.append(await _queued(redis))
            await _add_key(uow, "second")
            uow.hint_realms([OTHER])
            uow.notice()
            raise WorkFailed

    with pytest.raises(WorkFailed):
        await work()
    assert queued_after_first == [{sync_job_id(REALM)}]
    assert await _key_names(session_factory) == {"first"}
    assert await _queued(redis) == {sync_job_id(REALM)}


async def test_hints_are_sent_once_the_work_is_visible_to_others(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    seen: list[set[str]] = []

    async def deliver(hints: Hints) -> int:
        # What a worker woken by the hint would find.
        seen.append(await _key_names(session_factory))
        return 0

    async with unit_of_work(session_factory, deliver=deliver) as uow:
        await _add_key(uow, "visible")
        uow.notice()
    assert seen == [{"visible"}]


async def test_without_hints_nothing_is_delivered(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    calls: list[Hints] = []

    async def deliver(hints: Hints) -> int:
        calls.append(hints)
        return 0

    async with unit_of_work(session_factory, deliver=deliver) as uow:
        await _add_key(uow, "quiet")
    assert calls == []
    assert await send_hints(None, Hints(sync={REALM: None}, deliveries=True)) == 0


def _route_app(app: FastAPI) -> FastAPI:
    """A bare app sharing the suite's database and Redis, with routes on the dependency."""
    bare = FastAPI()
    bare.state.session_factory = app.state.session_factory
    bare.state.redis = app.state.redis

    @bare.post("/ok")
    async def ok(uow: UnitOfWorkDep) -> dict[str, bool]:
        await _add_key(uow, "answered")
        uow.hint_realms([REALM])
        uow.notice()
        return {"ok": True}

    @bare.post("/fail")
    async def fail(uow: UnitOfWorkDep) -> dict[str, bool]:
        await _add_key(uow, "refused")
        uow.hint_realms([REALM])
        raise WorkFailed

    return bare


async def test_the_routers_dependency_commits_and_hints_only_a_success(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    async with asgi_client(_route_app(app)) as client:
        assert (await client.post("/ok")).status_code == 200
        assert "answered" in await _key_names(session_factory)
        assert await _queued(redis) == {sync_job_id(REALM), CALLBACK_DELIVERY.job_id}
        await redis.flushdb()
        with pytest.raises(WorkFailed):
            await client.post("/fail")
    assert "refused" not in await _key_names(session_factory)
    assert await _queued(redis) == set()


async def test_the_commit_precedes_the_answer_and_the_hints_follow_it(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    seen: list[tuple[set[str], set[str]]] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            # The answer starts: the work is stored, and no worker was woken yet.
            seen.append((await _key_names(session_factory), await _queued(redis)))

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ok",
        "raw_path": b"/ok",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("test", 80),
        "client": ("test", 1),
    }
    await _route_app(app)(scope, receive, send)
    assert seen == [({"answered"}, set())]
    assert await _queued(redis) == {sync_job_id(REALM), CALLBACK_DELIVERY.job_id}
