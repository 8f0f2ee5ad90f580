"""An in-process receiver of callback notices: records what arrives, answers as told."""

from __future__ import annotations

import asyncio
import json
import ssl
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


@dataclass
class Heard:
    """One request as it reached a socket: its request line, headers and body."""

    line: str
    headers: dict[str, str]
    body: bytes


class LocalReceiver:
    """A real HTTP(S) server on 127.0.0.1 at a free port, for deliveries over the network:
    answers `status` (with `location`, if set) and keeps what it heard."""

    def __init__(
        self, status: int = 200, location: str | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.status, self.location, self.tls = status, location, tls
        self.heard: list[Heard] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> LocalReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.heard.append(Heard(head[0], headers, body))
            extra = f"Location: {self.location}\r\n" if self.location else ""
            writer.write(
                f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\n{extra}"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
