"""Every route of the app, enumerated from the app itself, is either protected by an API key
scope (derived from its dependencies, not written down by hand) or listed below as public on
purpose, with the reason. Each protected route refuses a missing, unknown or revoked key (401)
and every key without its scope (403), and admits a key holding only its scope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Route

from app.deps import ScopeRequired
from app.routes import iter_routes
from app.security import Scope, grants, revoke_api_key
from tests.fixtures.keys import KeyFactory
from tests.support.factories import customer_event

OPS_SESSION = (
    "ops console: a signed session cookie from a login with a connections:admin key; "
    "tests/core/test_auth.py::test_every_console_page_needs_a_session"
)
CONTRACT = "the published API contract (openapi.yaml is public too); no data"
# (method, path template) -> why it needs no API key. A route in neither this list nor
# guarded by a scope fails test_every_route_has_a_scope_or_a_reason.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/health"): "liveness for load balancers and orchestrators; no data",
    ("GET", "/health/ready"): "readiness for load balancers; names failing dependencies only",
    ("GET", "/openapi.json"): CONTRACT,
    ("GET", "/docs"): CONTRACT,
    ("GET", "/docs/oauth2-redirect"): CONTRACT,
    ("GET", "/redoc"): CONTRACT,
    ("GET", "/connections/callback"): (
        "Intuit's redirect brings a person's browser back; the single-use OAuth state is the "
        "proof (tests/security/test_oauth.py)"
    ),
    ("POST", "/webhooks/intuit"): (
        "Intuit's deliveries; authenticated by the intuit-signature HMAC of the body "
        "(tests/security/test_signatures.py)"
    ),
    ("GET", "/ops"): OPS_SESSION,
    ("GET", "/ops/login"): "the console's login form; it takes the key (CSRF-protected)",
    ("POST", "/ops/login"): "the console's login: checks the key it is given (CSRF-protected)",
    ("POST", "/ops/logout"): OPS_SESSION,
    ("GET", "/ops/realms/{realm_id}"): OPS_SESSION,
    ("GET", "/ops/realms/{realm_id}/settings"): OPS_SESSION,
    ("POST", "/ops/realms/{realm_id}/settings"): OPS_SESSION,
    ("POST", "/ops/connect"): OPS_SESSION,
    ("POST", "/ops/connections/{realm_id}/disconnect"): OPS_SESSION,
    ("POST", "/ops/events/{event_id:uuid}/retry"): OPS_SESSION,
}
ALL_SCOPES = [s.value for s in Scope]


def _dependants(app: FastAPI) -> Iterator[tuple[str, str, Dependant | None]]:
    """(method, path, the route's effective dependency tree or None for plain routes)."""
    for route in app.routes:
        contexts: Any = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for ctx in contexts():
                for method in sorted(getattr(ctx.original_route, "methods", None) or ()):
                    yield method, ctx.path, ctx.dependant
        elif isinstance(route, Route) and route.methods:
            for method in sorted(route.methods):
                yield method, route.path, None


def _scopes(dependant: Dependant | None) -> set[str]:
    if dependant is None:
        return set()
    found = {dependant.call.scope.value} if isinstance(dependant.call, ScopeRequired) else set()
    for sub in dependant.dependencies:
        found |= _scopes(sub)
    return found


def route_scopes(app: FastAPI) -> dict[tuple[str, str], set[str]]:
    """Each route (by app.routes.iter_routes, HEAD folded into GET) with its scopes."""
    walked = {(m, p): _scopes(d) for m, p, d in _dependants(app)}
    listed = set(iter_routes(app))
    assert set(walked) == listed  # the walk above sees exactly the routes the app serves
    return {(m, p): s for (m, p), s in walked.items() if m != "HEAD" or ("GET", p) not in walked}


def concrete(path: str) -> str:
    path = re.sub(r"\{[^}]+:uuid\}", "00000000-0000-0000-0000-000000000000", path)
    return re.sub(r"\{[^}]+\}", "123", path)


def test_every_route_has_a_scope_or_a_reason(app: FastAPI) -> None:
    scopes = route_scopes(app)
    unguarded = sorted(r for r, s in scopes.items() if not s and r not in PUBLIC)
    assert unguarded == [], "give these routes a scope (app.deps) or a reason in PUBLIC"
    guarded_yet_listed = sorted(r for r, s in scopes.items() if s and r in PUBLIC)
    assert guarded_yet_listed == []
    assert sorted(set(PUBLIC) - set(scopes)) == []  # no stale entries
    assert all(len(s) <= 1 for s in scopes.values())
    protected = {r: s.pop() for r, s in scopes.items() if s}
    # The derivation sees what the README promises, e.g.:
    assert protected[("POST", "/events")] == "events:write"
    assert protected[("GET", "/sync-status")] == "status:read"
    assert protected[("DELETE", "/connections/{realm_id:realm}")] == "connections:admin"
    assert protected[("GET", "/metrics")] == "status:read"
    assert protected[("GET", "/events/{event_id:uuid}")] == "events:read"
    # No route needs events:read_all itself: it widens what events:read routes answer.
    assert "events:read_all" not in protected.values()


def test_scope_inclusion() -> None:
    assert grants("events:read_all", Scope.EVENTS_READ)
    assert grants("events:read", Scope.EVENTS_READ)
    assert not grants("events:read", Scope.EVENTS_READ_ALL)
    assert not grants("events:read_all", Scope.EVENTS_WRITE)
    assert not grants("events:anything", Scope.EVENTS_READ)


async def test_every_protected_route_refuses_wrong_scopes_and_revoked_keys(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    only = {s: await make_key(f"only-{i}", [s]) for i, s in enumerate(ALL_SCOPES)}
    # Every scope but the one a route needs and those that include it (events:read_all
    # includes events:read).
    all_but = {
        s: await make_key(f"all-but-{i}", [o for o in ALL_SCOPES if not grants(o, Scope(s))])
        for i, s in enumerate(ALL_SCOPES)
    }
    revoked = {s: await make_key(f"revoked-{i}", [s]) for i, s in enumerate(ALL_SCOPES)}
    async with session_factory() as session:
        for i in range(len(ALL_SCOPES)):
            assert await revoke_api_key(session, f"revoked-{i}")
        await session.commit()

    protected = {r: s.pop() for r, s in route_scopes(app).items() if s}
    for (method, template), needed in sorted(protected.items()):
        path = concrete(template)

        async def call(key: str | None, method: str = method, path: str = path) -> httpx.Response:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return await client.request(method, path, headers=headers, json=customer_event())

        for key in (None, "qbs_unknown", revoked[needed]):
            refused = await call(key)
            assert refused.status_code == 401, (method, path, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
        admitting = [s for s in ALL_SCOPES if grants(s, Scope(needed))]
        wrong = [all_but[needed]] + [only[s] for s in ALL_SCOPES if s not in admitting]
        for key in wrong:
            forbidden = await call(key)
            assert forbidden.status_code == 403, (method, path, forbidden.text)
            assert needed in forbidden.json()["detail"]
        # The scope found is the one that admits (and the scopes that include it): the route
        # answers past authorization.
        for scope in admitting:
            admitted = await call(only[scope])
            assert admitted.status_code not in (401, 403), (method, path, scope, admitted.text)
