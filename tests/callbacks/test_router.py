"""PUT / GET / DELETE /callbacks and GET /callbacks/deliveries: validation, scopes, secrecy."""

from __future__ import annotations

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.callbacks.models import Callback, CallbackDelivery
from app.callbacks.service import (
    enqueue_notice,
    enqueue_notice_to_all,
    rotate_callback_secrets,
    set_callback,
)
from app.core.cipher import TokenCipher
from app.uow import Hints, gather, unit_of_work
from tests.fixtures.keys import KeyFactory
from tests.fixtures.logscan import remember_secret

Factory = async_sessionmaker[AsyncSession]
SECRET = "s3cret-callback-signing-key-0001"
URL = "https://billing.example/hooks/qbo"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _stored(factory: Factory) -> list[Callback]:
    async with factory() as session:
        return list((await session.scalars(select(Callback))).all())


async def test_put_get_delete(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    remember_secret(SECRET)
    put = await client.put("/callbacks", json={"url": URL, "secret": SECRET}, headers=auth)
    assert put.status_code == 200, put.text
    body = put.json()
    assert set(body) == {"url", "created_at", "updated_at"}
    assert body["url"] == URL

    got = await client.get("/callbacks", headers=auth)
    assert got.status_code == 200
    assert got.json() == body

    again = await client.put(
        "/callbacks", json={"url": URL + "/v2", "secret": SECRET + "-rotated"}, headers=auth
    )
    assert again.status_code == 200
    assert again.json()["url"] == URL + "/v2"
    assert again.json()["created_at"] == body["created_at"]
    assert again.json()["updated_at"] >= body["updated_at"]

    deleted = await client.delete("/callbacks", headers=auth)
    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = await client.get("/callbacks", headers=auth)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await client.delete("/callbacks", headers=auth)).status_code == 404
    for answer in (put, got, again, deleted, missing):
        assert SECRET not in answer.text


async def test_the_secret_is_stored_encrypted(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI, session_factory: Factory
) -> None:
    remember_secret(SECRET)
    await client.put("/callbacks", json={"url": URL, "secret": SECRET}, headers=auth)
    [stored] = await _stored(session_factory)
    assert stored.source == "billing"
    assert SECRET.encode() not in stored.secret_enc
    assert app.state.cipher.decrypt(stored.secret_enc).get_secret_value() == SECRET


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    client: httpx.AsyncClient, auth: dict[str, str], session_factory: Factory
) -> None:
    cases: dict[str, list[dict[str, object]]] = {
        "/url": [
            {"url": "ftp://billing.example/hooks", "secret": SECRET},
            {"url": "billing.example/hooks", "secret": SECRET},
            {"url": "https://", "secret": SECRET},
            {"url": "https://billing.example/" + "a" * 2000, "secret": SECRET},
            {"secret": SECRET},
        ],
        "/secret": [
            {"url": URL, "secret": "too-short"},
            {"url": URL, "secret": "x" * 201},
            {"url": URL},
        ],
        "/extra": [{"url": URL, "secret": SECRET, "extra": 1}],
    }
    for pointer, bodies in cases.items():
        for body in bodies:
            answer = await client.put("/callbacks", json=body, headers=auth)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert [e["pointer"] for e in answer.json()["errors"]] == [pointer], answer.text
            assert "too-short" not in answer.text
    assert await _stored(session_factory) == []


async def test_scopes(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    reader = _bearer(await make_key("reader", ["events:read"]))
    assert (
        await client.put("/callbacks", json={"url": URL, "secret": SECRET}, headers=reader)
    ).status_code == 403
    assert (await client.get("/callbacks", headers=reader)).status_code == 403
    assert (await client.delete("/callbacks", headers=reader)).status_code == 403
    assert (await client.get("/callbacks/deliveries", headers=reader)).status_code == 200
    writer = _bearer(await make_key("writer", ["events:write"]))
    assert (await client.get("/callbacks/deliveries", headers=writer)).status_code == 403
    assert (await client.get("/callbacks")).status_code == 401


async def test_deliveries_refuse_unknown_and_bad_parameters(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for query, name in (
        ("?state=pending", "state"),
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?status=sent", "status"),
        ("?kind=event.created", "kind"),
        ("?cursor=bm90LWEtY3Vyc29y", "cursor"),
    ):
        answer = await client.get("/callbacks/deliveries" + query, headers=auth)
        assert answer.status_code == 422, (query, answer.text)
        assert [e["parameter"] for e in answer.json()["errors"]] == [name]


async def test_notices_are_queued_only_for_sources_with_a_callback_and_in_the_transaction(
    client: httpx.AsyncClient, auth: dict[str, str], make_key: KeyFactory, session_factory: Factory
) -> None:
    shop = _bearer(await make_key("shop"))
    await client.put("/callbacks", json={"url": URL, "secret": SECRET}, headers=auth)
    await client.put("/callbacks", json={"url": URL, "secret": SECRET}, headers=shop)
    nobody, billing = Hints(), Hints()  # what each unit of work sends after its commit
    async with unit_of_work(session_factory, deliver=gather(nobody)) as uow:
        await enqueue_notice(uow.session, "nobody", "event.synced", {"id": "1"})
    async with unit_of_work(session_factory, deliver=gather(billing)) as uow:
        await enqueue_notice(uow.session, "billing", "event.synced", {"id": "2"})
    assert (nobody.deliveries, billing.deliveries) == (False, True)
    async with session_factory() as session:
        await enqueue_notice(session, "billing", "event.dead", {"id": "rolled back"})
        await enqueue_notice_to_all(session, "connection.needs_reauth", {"id": "rolled back"})
        await session.rollback()
    async with session_factory.begin() as session:
        await enqueue_notice_to_all(session, "connection.needs_reauth", {"realm_id": "1"})
    async with session_factory() as session:
        rows = (
            await session.execute(
                select(CallbackDelivery.source, CallbackDelivery.kind).order_by(
                    CallbackDelivery.source, CallbackDelivery.kind
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("billing", "connection.needs_reauth"),
        ("billing", "event.synced"),
        ("shop", "connection.needs_reauth"),
    ]

    listed = (await client.get("/callbacks/deliveries", headers=auth)).json()
    assert [d["kind"] for d in listed["items"]] == ["connection.needs_reauth", "event.synced"]
    assert listed["items"][0]["status"] == "pending"
    assert listed["items"][0]["attempt_log"] == []
    filtered = await client.get("/callbacks/deliveries?kind=event.synced&limit=1", headers=auth)
    assert [d["data"] for d in filtered.json()["items"]] == [{"id": "2"}]


async def test_removing_the_callback_fails_its_pending_notices(
    client: httpx.AsyncClient, auth: dict[str, str], session_factory: Factory
) -> None:
    await client.put("/callbacks", json={"url": URL, "secret": SECRET}, headers=auth)
    async with session_factory.begin() as session:
        await enqueue_notice(session, "billing", "event.synced", {"id": "1"})
    assert (await client.delete("/callbacks", headers=auth)).status_code == 204
    async with session_factory.begin() as session:
        await enqueue_notice(session, "billing", "event.synced", {"id": "after"})
        count = await session.scalar(select(func.count()).select_from(CallbackDelivery))
    assert count == 1
    [item] = (await client.get("/callbacks/deliveries?status=failed", headers=auth)).json()["items"]
    assert item["last_error"] == "callback removed"
    assert item["next_attempt_at"] is None


async def test_deliveries_page_with_a_cursor(
    client: httpx.AsyncClient, auth: dict[str, str], session_factory: Factory
) -> None:
    await client.put("/callbacks", json={"url": URL, "secret": SECRET}, headers=auth)
    for n in range(5):
        async with session_factory.begin() as session:
            await enqueue_notice(session, "billing", "event.synced", {"n": n})
    seen: list[int] = []
    cursor = ""
    while True:
        page = (await client.get(f"/callbacks/deliveries?limit=2{cursor}", headers=auth)).json()
        seen += [d["data"]["n"] for d in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = "&cursor=" + page["next_cursor"]
    assert seen == [4, 3, 2, 1, 0]


async def test_key_rotation_re_encrypts_callback_secrets(session_factory: Factory) -> None:
    old_key, new_key = (SecretStr(Fernet.generate_key().decode()) for _ in range(2))
    old, new, both = TokenCipher([old_key]), TokenCipher([new_key]), TokenCipher([new_key, old_key])
    async with session_factory.begin() as session:
        await set_callback(session, "billing", URL, SecretStr(SECRET), old)
    async with session_factory.begin() as session:
        assert await rotate_callback_secrets(session, both) == 1
    async with session_factory.begin() as session:
        assert await rotate_callback_secrets(session, both) == 0
    [stored] = await _stored(session_factory)
    assert new.decrypt(stored.secret_enc).get_secret_value() == SECRET
