"""The error tree of the service, rendered as problem+json (RFC 9457) by one handler."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.routes import allowed_methods

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://qbo-sync.dev/problems/"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses=` entries of a route's problem+json answers, in the order given
    (the order is the document's: `openapi.yaml` is compared byte for byte)."""
    return {
        status: {"content": {PROBLEM_JSON: {}}, "description": "Problem details"}
        for status in statuses
    }


class AppError(Exception):
    """Base of every error the API answers on purpose; carries its HTTP status and problem type."""

    status: int = 500
    type_: str = "internal"
    title: str = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra
        self.headers: dict[str, str] = {}


class NotAuthenticated(AppError):
    status, type_, title = 401, "not-authenticated", "Missing or invalid API key"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": 'Bearer realm="qbo-sync"'}


class Forbidden(AppError):
    status, type_, title = 403, "forbidden", "API key lacks the required scope"


class NotFound(AppError):
    status, type_, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, type_, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, type_, title = 413, "payload-too-large", "Request body too large"


class InvalidInput(AppError):
    """Bad input: `errors` lists each bad field by JSON pointer."""

    status, type_, title = 422, "validation-error", "The request has invalid fields"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None) -> None:
        super().__init__(detail or f"{len(errors)} invalid field(s)", errors=errors)


def bad_cursor() -> InvalidInput:
    return InvalidInput(
        [{"pointer": "", "parameter": "cursor", "detail": "not a cursor this API issued"}]
    )


class ServiceUnavailable(AppError):
    status, type_, title = 503, "unavailable", "A dependency is unavailable"


class TryLater(AppError):
    """What the answer needs cannot be had for a while (a company's QBO request budget is
    spent, QBO throttles or is busy): `Retry-After` says when to ask again."""

    status, type_, title = 429, "try-later", "Try again later"

    def __init__(self, detail: str, seconds: float | None) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(max(1, math.ceil(seconds or 1)))}


# Problems raised by the framework itself, named like ours.
HTTP_PROBLEMS = {
    400: ("malformed-body", "The body could not be parsed"),
    PayloadTooLarge.status: (PayloadTooLarge.type_, PayloadTooLarge.title),
    NotFound.status: (NotFound.type_, NotFound.title),
    405: ("method-not-allowed", "Method not allowed"),
}


def reject_unknown_parameters(given: Iterable[str], allowed: Iterable[str]) -> None:
    """Raise InvalidInput naming each query parameter not in `allowed`: a misspelt filter
    must not silently widen a listing."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise InvalidInput(
            [{"pointer": "", "parameter": name, "detail": "unknown parameter"} for name in unknown]
        )


def problem(
    status: int,
    type_: str,
    title: str,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + type_,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def json_pointer(loc: tuple[int | str, ...] | list[int | str], skip: frozenset[str]) -> str:
    """Turn a pydantic error location into an RFC 6901 pointer, dropping union tags."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in skip)]
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""


def validation_errors(
    errors: list[dict[str, Any]] | Any, skip: frozenset[str], prefix: str = ""
) -> list[dict[str, str]]:
    out = []
    for e in errors:
        loc = list(e.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header"):
            where = loc.pop(0)
            if where != "body":
                out.append(
                    {"pointer": "", "parameter": ".".join(map(str, loc)), "detail": e["msg"]}
                )
                continue
        out.append({"pointer": prefix + json_pointer(loc, skip), "detail": e["msg"]})
    return out


class UnhandledErrors:
    """Outermost layer of the API: an exception no handler took is logged here, once and as
    `app.logs` writes database errors (never a statement's values), and answered 500
    problem+json. It goes no further: Starlette would re-raise it after its own handler, and
    the server would log it a second time, in full."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            logger.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
            if not started:  # else the client sees the answer cut short
                response = problem(
                    500, "internal", "Internal error", "an unexpected error occurred"
                )
                await response(scope, receive, send)


def install_error_handlers(app: FastAPI, union_tags: frozenset[str]) -> None:
    """Every error leaves the API as problem+json. Call it after adding the app's other
    middleware: unhandled errors are caught around all of it."""

    app.add_middleware(UnhandledErrors)

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem(
            exc.status,
            exc.type_,
            exc.title,
            exc.detail,
            instance=request.url.path,
            headers=exc.headers or None,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors(), union_tags)
        return problem(
            422,
            InvalidInput.type_,
            InvalidInput.title,
            f"{len(errors)} invalid field(s)",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        known = HTTP_PROBLEMS.get(exc.status_code)
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            # Nested routers make the framework list only the first match's methods.
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path))
        return problem(
            exc.status_code,
            known[0] if known else f"http-{exc.status_code}",
            known[1] if known else str(exc.detail),
            str(exc.detail),
            instance=request.url.path,
            headers=headers or None,
        )
