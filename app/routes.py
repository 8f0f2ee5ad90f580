"""Every HTTP route of the app, including nested routers and routes hidden from the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route, compile_path


def iter_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) for each route; walks included routers, which FastAPI nests."""
    for route in app.routes:
        contexts: Any = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for ctx in contexts():
                methods = getattr(ctx.original_route, "methods", None) or set()
                for method in sorted(methods):
                    yield method, ctx.path
        elif isinstance(route, Route) and route.methods:
            for method in sorted(route.methods):
                yield method, route.path


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods some route accepts for a concrete request path (for a 405's Allow header)."""
    methods = {
        method
        for method, template in iter_routes(app)
        if compile_path(template)[0].match(path) is not None
    }
    return sorted(methods)
