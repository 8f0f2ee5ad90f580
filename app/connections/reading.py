"""Reads of a company's QBO on behalf of the API and the console: a valid access token
(refreshed when needed), the realm's shared request budget, and the process's metrics."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from starlette.datastructures import State

from app.connections.reference import Query
from app.connections.refresh import TokenKeeper, with_access_token
from app.qbo import QboClient


def realm_query(state: State, realm_id: str) -> Query:
    """Queries of the realm's QBO from a request's app state (`settings`, `session_factory`,
    `oauth`, `cipher`, `metrics`, `budget`, `qbo_transport`). A call raises QboError,
    BudgetWait, ConnectionUnavailable or RefreshFailed."""
    keeper = TokenKeeper(
        settings=state.settings,
        session_factory=state.session_factory,
        oauth=state.oauth,
        cipher=state.cipher,
        metrics=state.metrics,
    )

    async def run(statement: str) -> list[dict[str, Any]]:
        async def call(token: SecretStr) -> list[dict[str, Any]]:
            client = QboClient(
                state.settings,
                realm_id,
                token,
                state.qbo_transport,
                budget=state.budget,
                recorder=state.metrics,
            )
            return await client.query(statement)

        return await with_access_token(keeper, realm_id, call)

    return run
