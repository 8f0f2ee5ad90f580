"""The ops console: login, session cookie, CSRF, the pages' content, Retry, Disconnect, logout."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connections.models import Connection
from app.db import utcnow
from app.events.models import Event
from app.ops.sessions import COOKIE
from app.security import revoke_api_key
from tests.fixtures.keys import KeyFactory
from tests.fixtures.ops import csrf_of, log_in
from tests.fixtures.world import World, event_of
from tests.support.factories import customer_event, invoice_event, item_event


async def dead_invoice(world: World, external_id: str, event_id: str) -> Event:
    """An invoice that QBO refuses (610: one of its items was made inactive there)."""
    await world.send(customer_event("c1"), item_event("item-1"), item_event("item-2"))
    item = next(i for i in await world.records("items") if i["Name"] == "Consulting item-1")
    await world.books.client.post(f"/admin/companies/{world.realm}/items/{item['Id']}/deactivate")
    await world.send(invoice_event(external_id, customer="c1", event_id=event_id))
    dead = await event_of(world.factory, event_id)
    assert dead.status == "dead"
    return dead


async def test_pages_need_a_login(visitor: httpx.AsyncClient) -> None:
    for path in ("/ops", "/ops/realms/123"):
        answer = await visitor.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ops/login"
    form = await visitor.get("/ops/login")
    assert form.status_code == 200
    assert 'name="api_key"' in form.text
    assert form.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]


async def test_login_refuses_unknown_revoked_and_unscoped_keys(
    visitor: httpx.AsyncClient,
    make_key: KeyFactory,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    reader = await make_key("reader", ["status:read", "events:write"])
    revoked = await make_key("gone", ["connections:admin"])
    async with session_factory.begin() as session:
        await revoke_api_key(session, "gone")
    for key in ("qbs_not-a-key", reader, revoked, ""):
        answer = await log_in(visitor, key)
        assert answer.status_code == 401, key
        assert "unknown, revoked, or lacks the scope connections:admin" in answer.text
        assert COOKIE not in answer.cookies
    assert (await visitor.get("/ops")).status_code == 303


async def test_login_needs_the_form_token(visitor: httpx.AsyncClient, admin_key: str) -> None:
    await visitor.get("/ops/login")
    answer = await visitor.post("/ops/login", data={"api_key": admin_key, "csrf": "forged"})
    assert answer.status_code == 403
    assert COOKIE not in answer.cookies
    # A form posted from another site is refused even with the right token.
    form = await visitor.get("/ops/login")
    answer = await visitor.post(
        "/ops/login",
        data={"api_key": admin_key, "csrf": csrf_of(form)},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403


async def test_the_session_cookie_is_signed_httponly_and_strict(
    visitor: httpx.AsyncClient, admin_key: str
) -> None:
    answer = await log_in(visitor, admin_key)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ops"
    [cookie] = [h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/ops"} <= attributes
    assert admin_key not in cookie
    value = visitor.cookies[COOKIE]
    session_id, _, mac = value.rpartition(".")
    # A changed signature, or another id under the same signature, is no session.
    for forged in (f"{session_id}.{mac[:-2]}xx", f"{session_id[:-2]}xx.{mac}"):
        visitor.cookies.set(COOKIE, forged, path="/ops")
        assert (await visitor.get("/ops")).status_code == 303
    visitor.cookies.set(COOKIE, value, path="/ops")
    assert (await visitor.get("/ops")).status_code == 200


async def test_dashboard_shows_connections_verdicts_charts_and_dead_events(
    console: httpx.AsyncClient, world: World, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await world.connect()
    hostile = "<script>alert(1)</script>"
    dead = await dead_invoice(world, hostile, "bad-invoice")

    page = await console.get("/ops")
    assert page.status_code == 200
    assert "Acme Books" in page.text
    assert f'data-realm="{world.realm}"' in page.text
    assert "verdict-degraded" in page.text
    assert "1 dead events need attention" in page.text
    assert "Connect a company" in page.text
    assert "Reconnect" in page.text
    assert f'action="/ops/connections/{world.realm}/disconnect"' in page.text
    # The chart: 3 synced records and 1 failed in the last 24 hours.
    assert 'aria-label="Last 24 hours: 3 synced, 1 failed"' in page.text
    assert page.text.count('<rect class="synced"') == 24
    # The dead event with QBO's reason and a Retry button; hostile text is escaped.
    assert f'data-event="{dead.id}"' in page.text
    assert "<code>610</code>" in page.text
    assert f'action="/ops/events/{dead.id}/retry"' in page.text
    assert hostile not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text

    realm = await console.get(f"/ops/realms/{world.realm}")
    assert realm.status_code == 200
    assert realm.text.count('data-event="') == 4
    assert realm.text.count('data-status="synced"') == 3
    only_dead = await console.get(f"/ops/realms/{world.realm}", params={"status": "dead"})
    assert only_dead.text.count('data-event="') == 1
    assert (await console.get(f"/ops/realms/{world.realm}?status=bogus")).status_code == 422
    assert (await console.get("/ops/realms/999999")).status_code == 404


async def test_chart_counts_per_hour(
    console: httpx.AsyncClient, world: World, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await world.connect()
    await world.send(*(customer_event(f"c{i}") for i in range(3)))
    # Move one synced record 5 hours back and another beyond the chart's 24 hours.
    async with session_factory.begin() as session:
        ids = list(await session.scalars(select(Event.id).order_by(Event.event_id)))
        await session.execute(
            update(Event).where(Event.id == ids[0]).values(synced_at=utcnow() - timedelta(hours=5))
        )
        await session.execute(
            update(Event).where(Event.id == ids[1]).values(synced_at=utcnow() - timedelta(hours=30))
        )
    page = await console.get("/ops")
    assert 'aria-label="Last 24 hours: 2 synced, 0 failed"' in page.text


async def test_retry_a_dead_event_needs_the_csrf_token(
    console: httpx.AsyncClient,
    world: World,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await world.connect()
    dead = await dead_invoice(world, "inv1", "inv-1")
    page = await console.get("/ops")

    refused = await console.post(f"/ops/events/{dead.id}/retry", data={"csrf": "nope"})
    assert refused.status_code == 403
    assert "Form refused" in refused.text
    cross_site = await console.post(
        f"/ops/events/{dead.id}/retry",
        data={"csrf": csrf_of(page)},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert (await event_of(session_factory, "inv-1")).status == "dead"

    await world.send(item_event("item-1"))  # its owner makes the item active again
    answer = await console.post(
        f"/ops/events/{dead.id}/retry",
        data={"csrf": csrf_of(page), "back": f"/ops/realms/{world.realm}"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/ops/realms/{world.realm}?notice=retried"
    assert (await event_of(session_factory, "inv-1")).status == "pending"
    await world.send()
    assert (await event_of(session_factory, "inv-1")).status == "synced"
    again = await console.post(
        f"/ops/events/{dead.id}/retry", data={"csrf": csrf_of(page), "back": "https://evil.example"}
    )
    assert again.headers["location"] == "/ops?notice=not-dead"


async def test_connect_sends_the_browser_to_intuit(console: httpx.AsyncClient) -> None:
    page = await console.get("/ops")
    answer = await console.post("/ops/connect", data={"csrf": csrf_of(page)})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("http://qbo.test/connect/oauth2?")
    assert "state=" in answer.headers["location"]


async def test_disconnect_revokes_and_marks_the_connection(
    console: httpx.AsyncClient, world: World, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await world.connect()
    page = await console.get("/ops")
    answer = await console.post(
        f"/ops/connections/{world.realm}/disconnect", data={"csrf": csrf_of(page)}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ops?notice=disconnected"
    async with session_factory() as session:
        connection = await session.scalar(
            select(Connection).where(Connection.realm_id == world.realm)
        )
    assert connection is not None
    assert connection.status == "disconnected"
    assert connection.refresh_token_enc is None
    after = await console.get("/ops?notice=disconnected")
    assert "The company was disconnected" in after.text
    assert f'action="/ops/connections/{world.realm}/disconnect"' not in after.text


async def test_logout_ends_the_session_everywhere(
    console: httpx.AsyncClient, ops_app: FastAPI
) -> None:
    stolen = console.cookies[COOKIE]
    page = await console.get("/ops")
    answer = await console.post("/ops/logout", data={"csrf": csrf_of(page)})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ops/login?notice=logged-out"
    assert COOKIE not in console.cookies
    # The old cookie, replayed, is no session any more.
    transport = httpx.ASGITransport(app=ops_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        other.cookies.set(COOKIE, stolen, path="/ops")
        assert (await other.get("/ops")).status_code == 303


async def test_revoking_the_key_ends_its_sessions(
    console: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    assert (await console.get("/ops")).status_code == 200
    async with session_factory.begin() as session:
        await revoke_api_key(session, "ops")
    assert (await console.get("/ops")).status_code == 303
