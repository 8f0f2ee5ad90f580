"""Property-based contract test: generated requests against a live API, with a valid key.

No answer may be a 5xx, and every answer must match the committed openapi.yaml.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from requests.structures import CaseInsensitiveDict
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.emulator.app import create_app as create_emulator
from app.main import create_app
from app.security import ApiKey, Scope, hash_key
from tests.support.helpers import free_port

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"
schema = schemathesis.openapi.from_path(SPEC)
# Cross-field business rules (line amount = quantity x price, applications within the total,
# cursors this API issued) cannot be stated in JSON Schema, so a schema-valid request may
# rightly be refused: every check runs except `positive_data_acceptance`.
schema.config.checks.positive_data_acceptance.enabled = False
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.negative_data_rejection,
    schemathesis.checks.ignored_auth,
    schemathesis.checks.allow_header_conformance,
    schemathesis.checks.unsupported_method,
    schemathesis.checks.missing_required_header,
]

# Schemathesis asks its auth provider for the key while collecting, before any fixture runs:
# the key is fixed here and stored (as its hash, like any key) before each test.
CONTRACT_KEY = "qbs_contract-test-key-" + "0" * 24


@schema.auth()
class ApiKeyAuth:
    """Lets schemathesis add the key itself, so its missing-auth cases really lack it."""

    def get(self, case: schemathesis.Case[Any], context: schemathesis.AuthContext) -> str:
        return CONTRACT_KEY

    def set(
        self, case: schemathesis.Case[Any], data: str, context: schemathesis.AuthContext
    ) -> None:
        headers = case.headers if case.headers is not None else CaseInsensitiveDict()
        headers["Authorization"] = f"Bearer {data}"
        case.headers = headers


@pytest.fixture(scope="module")
def live_url(settings: Settings) -> Iterator[str]:
    """The API served by uvicorn on its own thread and event loop, as in production."""
    port = free_port()
    # QBO is the emulator, as under `make run`.
    app = create_app(
        settings.model_copy(update={"emulator_url": "http://emulator.test"}),
        qbo_transport=httpx.ASGITransport(app=create_emulator()),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        raise RuntimeError("the API did not become ready")
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
async def contract_key(session_factory: async_sessionmaker[AsyncSession]) -> str:
    async with session_factory() as session:
        session.add(
            ApiKey(
                name="contract", key_hash=hash_key(CONTRACT_KEY), scopes=[s.value for s in Scope]
            )
        )
        await session.commit()
    return CONTRACT_KEY


@schema.parametrize()
@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_contract(case: schemathesis.Case[Any], live_url: str, contract_key: str) -> None:
    case.call_and_validate(base_url=live_url, checks=CHECKS)
