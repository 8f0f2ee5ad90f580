"""Enumerate every HTTP route of an app, including those left out of the OpenAPI schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route


def iter_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) for each route; walks included routers (FastAPI >= 0.160 nests them)."""
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
