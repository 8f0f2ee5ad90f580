"""Fixtures for the emulator tests: an in-process emulator with a company and a token."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.emulator.app import create_app, store_of
from app.emulator.config import EmulatorConfig, LimitsConfig
from app.emulator.store import Store

RECORDED = Path(__file__).resolve().parent / "fixtures" / "recorded"


def recorded(name: str) -> Any:
    """A recorded request or response body (fixtures/recorded)."""
    return json.loads((RECORDED / name).read_text(encoding="utf-8-sig"))


@dataclass
class Qbo:
    """A client bound to one emulator company, with shortcuts for the Accounting API."""

    client: httpx.AsyncClient
    store: Store
    realm_id: str
    tokens: dict[str, Any]

    @property
    def base(self) -> str:
        return f"/v3/company/{self.realm_id}"

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.tokens['access_token']}",
            "Accept": "application/json",
        }

    async def post(self, path: str, body: Any, **params: str) -> httpx.Response:
        return await self.client.post(
            f"{self.base}/{path}",
            content=json.dumps(body),
            params=params or None,
            headers={**self.headers, "Content-Type": "application/json"},
        )

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.client.get(
            f"{self.base}/{path}", params=params or None, headers=self.headers
        )

    async def query(self, text: str) -> httpx.Response:
        return await self.get("query", query=text)

    async def ok(self, path: str, body: Any, **params: str) -> dict[str, Any]:
        """POST and return the entity object of a 200 answer."""
        response = await self.post(path, body, **params)
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()
        return next(v for k, v in payload.items() if k != "time")

    async def customer(self, name: str, **fields: Any) -> dict[str, Any]:
        return await self.ok("customer", {"DisplayName": name, **fields})

    async def invoice(self, customer_id: str, *amounts: str, **fields: Any) -> dict[str, Any]:
        lines = [
            {
                "Amount": float(a),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
            }
            for a in amounts
        ]
        return await self.ok(
            "invoice", {"CustomerRef": {"value": customer_id}, "Line": lines, **fields}
        )


def fault_code(response: httpx.Response) -> str:
    """The code of the first Error of a Fault answer."""
    code: str = response.json()["Fault"]["Error"][0]["code"]
    return code


async def make_qbo(config: EmulatorConfig | None = None, **company: Any) -> tuple[Qbo, Any]:
    """An emulator app, a company in it and a token pair; returns (Qbo, app)."""
    app = create_app(config or EmulatorConfig(frozen_clock=True, seed=7))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qbo.test")
    created = await client.post("/admin/companies", json={"name": "Acme", **company})
    realm_id = created.json()["realm_id"]
    tokens = (await client.post(f"/admin/companies/{realm_id}/tokens")).json()
    return Qbo(client, store_of(app), realm_id, tokens), app


@contextlib.asynccontextmanager
async def emulator_company(
    config: EmulatorConfig | None = None, **company: Any
) -> AsyncIterator[Qbo]:
    """`make_qbo` as a context manager that closes the client."""
    emulator, _ = await make_qbo(config, **company)
    try:
        yield emulator
    finally:
        await emulator.client.aclose()


@pytest.fixture
async def qbo() -> AsyncIterator[Qbo]:
    """A US company on a frozen clock, throttles off (tests of limits make their own)."""
    config = EmulatorConfig(frozen_clock=True, seed=7, limits=LimitsConfig(enabled=False))
    emulator, _ = await make_qbo(config)
    try:
        yield emulator
    finally:
        await emulator.client.aclose()
