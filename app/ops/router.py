"""The ops console at /ops: server-rendered pages over the same services as the API.

Log in with an API key holding `connections:admin`. Every state change is a POST form
carrying the session's CSRF token; the session cookie is signed, HttpOnly and
SameSite=Strict, and the key is checked again on every request, so revoking it logs out.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Environment
from app.connections import company_settings
from app.connections import service as connections
from app.connections.reading import READ_FAILURES, lists_or_cached, reading_problem, realm_query
from app.core.cipher import TokenCipher
from app.db import utcnow
from app.deps import ConnectionDep, SessionDep, UnitOfWorkDep
from app.events import repository as event_rows
from app.events import service as events
from app.events.models import EventStatus
from app.ops import service, settings_form
from app.ops.sessions import COOKIE, LOGIN_COOKIE, OpsSession, OpsSessions
from app.qbo import IntuitOAuth, LazyOAuth, OAuthFailure
from app.security import ApiKey, Scope, find_active_key
from app.status.reads import reads_report
from app.status.service import realm_reports

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/ops", include_in_schema=False)
templates = Jinja2Templates(directory=FilePath(__file__).parent / "templates")


def age(since: datetime, now: datetime) -> str:
    """'45 s', '12 min', '3 h 5 min', '2 d 4 h'."""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


templates.env.globals["age"] = age

# Short codes carried through redirects; only these texts are ever shown (nothing reflected).
NOTICES = {
    "retried": "The event was sent back to the queue.",
    "not-dead": "That event is no longer dead; nothing was changed.",
    "disconnected": "The company was disconnected; its events wait until it is reconnected.",
    "not-connected": "There is no connection for that company.",
    "logged-out": "You are logged out.",
    "settings-saved": "The settings were saved; they apply to events synced from now on.",
    "settings-unchanged": "Nothing changed; nothing was saved.",
}
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    # Not no-referrer: under it Chromium sends `Origin: null` with forms, which fails the check.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class LoginRequired(Exception):
    """No valid session: the browser is sent to the login page."""


class CsrfRejected(Exception):
    """A form without this session's token, or posted from another origin."""


def _sessions(request: Request) -> OpsSessions:
    sessions: OpsSessions = request.app.state.ops_sessions
    return sessions


async def current_session(request: Request, connection: ConnectionDep) -> OpsSession:
    """The session of the cookie, while the key that opened it is active and an admin's."""
    session = await _sessions(request).read(request.cookies.get(COOKIE))
    if session is None:
        raise LoginRequired
    key = (
        await connection.execute(
            select(ApiKey.scopes).where(
                ApiKey.name == session.key_name, ApiKey.revoked_at.is_(None)
            )
        )
    ).first()
    if key is None or Scope.CONNECTIONS_ADMIN.value not in key.scopes:
        await _sessions(request).end(session)
        raise LoginRequired
    return session


OpsUser = Annotated[OpsSession, Depends(current_session)]
CsrfField = Annotated[str, Form(max_length=100)]
RealmId = Annotated[str, Path(pattern="^[0-9]{1,32}$")]


def _same_origin(request: Request) -> bool:
    """A POST whose Origin (or Referer) names another site is refused; browsers send one."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":
        return claimed is None
    origin = urlsplit(claimed)
    return (origin.scheme, origin.netloc) == (request.url.scheme, request.url.netloc)


def check_form(request: Request, session: OpsSession, csrf: str) -> None:
    if not _same_origin(request) or not session.csrf_matches(csrf):
        raise CsrfRejected


def _secure(request: Request) -> bool:
    production = request.app.state.settings.environment is Environment.PRODUCTION
    return production or request.url.scheme == "https"


def render(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, context, status_code=code)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(to: str, notice: str | None = None) -> RedirectResponse:
    target = f"{to}?notice={notice}" if notice else to
    response = RedirectResponse(target, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def _back(path: str) -> str:
    """Only the console's own pages are valid places to return to."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ops") or "//" in parts.path:
        return "/ops"
    return parts.path


def _login_page(request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
    token, cookie = _sessions(request).login_token()
    notice = NOTICES.get(request.query_params.get("notice", ""))
    response = render(request, "login.html", status, csrf=token, error=error, notice=notice)
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        max_age=600,
        path="/ops",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    connection: ConnectionDep,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf: CsrfField = "",
) -> Response:
    sessions = _sessions(request)
    if not _same_origin(request) or not sessions.login_token_matches(
        request.cookies.get(LOGIN_COOKIE), csrf
    ):
        return _login_page(request, 403, "The form expired; log in again.")
    key = await find_active_key(connection, api_key.strip()) if api_key.strip() else None
    if key is None or Scope.CONNECTIONS_ADMIN.value not in key.scopes:
        logger.info("ops console: a login was refused")
        return _login_page(
            request, 401, "That key is unknown, revoked, or lacks the scope connections:admin."
        )
    _, cookie = await sessions.create(key.name)
    logger.info("ops console: %s logged in", key.name)
    response = redirect("/ops")
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=sessions.max_age,
        path="/ops",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/ops")
    return response


@router.post("/logout")
async def logout(request: Request, user: OpsUser, csrf: CsrfField = "") -> Response:
    check_form(request, user, csrf)
    await _sessions(request).end(user)
    response = redirect("/ops/login", "logged-out")
    response.delete_cookie(COOKIE, path="/ops", httponly=True, samesite="strict")
    return response


@router.get("", response_class=HTMLResponse)
async def dashboard(request: Request, user: OpsUser, session: SessionDep) -> HTMLResponse:
    now = utcnow()
    reports = await realm_reports(session, request.app.state.budget)
    activity = await service.hourly_activity(session, [r.realm_id for r in reports], now)
    dead = await event_rows.dead_events(session)
    reads = await reads_report(session, getattr(request.app.state, "meter", None))
    return render(
        request,
        "dashboard.html",
        user=user,
        now=now,
        reads=reads,
        reports=reports,
        activity=activity,
        dead=dead,
        notice=NOTICES.get(request.query_params.get("notice", "")),
    )


@router.get("/realms/{realm_id}", response_class=HTMLResponse)
async def realm_page(
    request: Request,
    user: OpsUser,
    session: SessionDep,
    realm_id: RealmId,
    status: Annotated[EventStatus | None, Query()] = None,
) -> HTMLResponse:
    now = utcnow()
    reports = await realm_reports(session, request.app.state.budget, realm_id)
    activity = await service.hourly_activity(session, [realm_id], now)
    recent = await event_rows.recent_events(session, realm_id, status.value if status else None)
    return render(
        request,
        "realm.html",
        404 if not reports else 200,
        user=user,
        now=now,
        realm_id=realm_id,
        report=reports[0] if reports else None,
        bars=activity[realm_id],
        events=recent,
        status=status.value if status else None,
        statuses=[s.value for s in EventStatus],
        notice=NOTICES.get(request.query_params.get("notice", "")),
    )


async def _settings_page(
    request: Request,
    user: OpsSession,
    session: AsyncSession,
    realm_id: str,
    *,
    code: int = 200,
    submitted: dict[str, Any] | None = None,
    problems: dict[str, list[str]] | None = None,
    problem: str | None = None,
) -> HTMLResponse:
    """The settings page of a company: the form (with a refused set and its problems, if
    any), where each value comes from, and the history."""
    connection = await connections.get_connection(session, realm_id)
    if connection is None:
        return render(
            request,
            "problem.html",
            404,
            user=user,
            title="No such company",
            message=f"There is no connection for realm {realm_id}.",
        )
    env = request.app.state.settings
    view = await company_settings.settings_view(session, connection, env)
    fields = settings_form.fields_for(company_settings.is_us(connection))
    lists, unreadable = await lists_or_cached(
        session,
        realm_query(request.app.state, realm_id),
        connection,
        dict.fromkeys(f.kind for f in fields if f.kind is not None),
        env.reference_cache_seconds,
    )
    history, _ = await company_settings.settings_history(session, realm_id, 50, None)
    return render(
        request,
        "settings.html",
        code,
        user=user,
        realm_id=realm_id,
        connection=connection,
        view=view,
        fields=fields,
        lists=lists,
        shown=settings_form.shown_values(view, submitted),
        problems=problems or {},
        problem=problem,
        unreadable=unreadable,
        history=history,
        options=settings_form.options,
        label_of=settings_form.label_of,
        method_rows=settings_form.method_rows,
        notice=NOTICES.get(request.query_params.get("notice", "")),
    )


@router.get("/realms/{realm_id}/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request, user: OpsUser, session: SessionDep, realm_id: RealmId
) -> HTMLResponse:
    return await _settings_page(request, user, session, realm_id)


@router.post("/realms/{realm_id}/settings")
async def save_settings(
    request: Request, user: OpsUser, session: SessionDep, uow: UnitOfWorkDep, realm_id: RealmId
) -> Response:
    """As `PUT /connections/{realm_id}/settings`: the same checks; a refusal shows the page
    again with each problem beside its field, and nothing stored."""
    form = await request.form()
    check_form(request, user, str(form.get("csrf", "")))
    connection = await connections.get_connection(session, realm_id)
    if connection is None:
        return redirect("/ops", "not-connected")
    submitted = settings_form.read_form(form)
    body, problems = settings_form.parse_body(submitted)
    problem: str | None = None
    code = 422
    if body is not None:
        try:
            changes = await company_settings.change_settings(
                session,
                uow.session,
                realm_query(request.app.state, realm_id),
                connection,
                body,
                user.key_name,
                request.app.state.settings.reference_cache_seconds,
            )
        except company_settings.SettingsRefused as refused:
            problems = settings_form.refusals_by_field(refused.errors)
        except company_settings.CompanyUnreadable as err:
            problem, code = str(err), 409
        except READ_FAILURES as err:
            problem, code = reading_problem(err), 503
        else:
            logger.info(
                "ops console: %s changed %d settings of realm %s",
                user.key_name,
                len(changes),
                realm_id,
            )
            back = f"/ops/realms/{realm_id}/settings"
            return redirect(back, "settings-saved" if changes else "settings-unchanged")
    return await _settings_page(
        request,
        user,
        session,
        realm_id,
        code=code,
        submitted=submitted,
        problems=problems,
        problem=problem,
    )


async def _oauth(request: Request, user: OpsSession) -> IntuitOAuth | HTMLResponse:
    provider: LazyOAuth = request.app.state.oauth
    try:
        return await provider.get()
    except OAuthFailure:
        return render(
            request,
            "problem.html",
            503,
            user=user,
            title="Intuit cannot be reached",
            message="Intuit's discovery document could not be read; try again shortly.",
        )


@router.post("/connect")
async def connect(
    request: Request, user: OpsUser, uow: UnitOfWorkDep, csrf: CsrfField = ""
) -> Response:
    """Start OAuth and send the browser to Intuit's consent page (connect or reconnect)."""
    check_form(request, user, csrf)
    oauth = await _oauth(request, user)
    if isinstance(oauth, HTMLResponse):
        return oauth
    started = await connections.start_connection(uow.session, oauth, user.key_name)
    return redirect(started.authorization_url)


@router.post("/connections/{realm_id}/disconnect")
async def disconnect(
    request: Request, user: OpsUser, realm_id: RealmId, uow: UnitOfWorkDep, csrf: CsrfField = ""
) -> Response:
    """Revoke at Intuit and mark disconnected, as `DELETE /connections/{realm_id}`."""
    check_form(request, user, csrf)
    oauth = await _oauth(request, user)
    if isinstance(oauth, HTMLResponse):
        return oauth
    cipher: TokenCipher = request.app.state.cipher
    connection = await connections.get_connection(uow.session, realm_id)
    if connection is None:
        return redirect("/ops", "not-connected")
    await connections.disconnect(uow.session, oauth, connection, cipher)
    logger.info("ops console: %s disconnected realm %s", user.key_name, realm_id)
    return redirect("/ops", "disconnected")


@router.post("/events/{event_id:uuid}/retry")
async def retry(
    request: Request,
    user: OpsUser,
    event_id: uuid.UUID,
    uow: UnitOfWorkDep,
    csrf: CsrfField = "",
    back: Annotated[str, Form(max_length=300)] = "/ops",
) -> Response:
    check_form(request, user, csrf)
    keys = await events.retry_dead_event(await uow.session.connection(), event_id)
    if not keys:
        return redirect(_back(back), "not-dead")
    logger.info("ops console: %s retried event %s", user.key_name, event_id)
    uow.hint_sync(keys)
    return redirect(_back(back), "retried")


def install_ops_console(app: FastAPI) -> None:
    """Mount /ops and the handlers that turn a missing session or bad form into pages."""

    async def to_login(request: Request, exc: Exception) -> Response:
        return redirect("/ops/login")

    async def refuse_form(request: Request, exc: Exception) -> Response:
        return render(
            request,
            "problem.html",
            403,
            user=None,
            title="Form refused",
            message="The form was stale or came from another site. Reload the page and try again.",
        )

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(CsrfRejected, refuse_form)
    app.include_router(router)
