"""An in-process receiver of callback notices: records what arrives, answers as told."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.callbacks import verify_notice


@dataclass
class Received:
    host: str
    headers: dict[str, str]
    body: bytes

    @property
    def notice(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    def valid(self, secret: str) -> bool:
        return verify_notice(
            secret,
            self.body,
            self.headers.get("x-qbosync-timestamp"),
            self.headers.get("x-qbosync-signature"),
        )


@dataclass
class Receiver:
    """`answers` are the statuses of the first requests (then 200); `hang` seconds of delay."""

    answers: list[int] = field(default_factory=list)
    hang: float = 0.0
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        app = Starlette(routes=[Route("/hooks", self._handle, methods=["POST"])])
        self.transport = httpx.ASGITransport(app=app)

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.received.append(Received(request.url.hostname or "", dict(request.headers), body))
        if self.hang:
            await asyncio.sleep(self.hang)
        return Response(status_code=self.answers.pop(0) if self.answers else 200)

    def to(self, host: str) -> list[Received]:
        return [r for r in self.received if r.host == host]

    def kinds(self, host: str | None = None) -> list[str]:
        return [str(r.notice["kind"]) for r in self.received if host in (None, r.host)]
