"""Reads from the QBO Accounting API that connecting a company needs (CompanyInfo, Preferences).

Errors are classified by `app.qbo.errors`, keeping `intuit_tid`: Intuit support asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from app.config import QboEnvironment, Settings
from app.qbo.errors import Category, QboError, classify, lost_answer

API_BASE_URLS = {
    QboEnvironment.SANDBOX: "https://sandbox-quickbooks.api.intuit.com",
    QboEnvironment.PRODUCTION: "https://quickbooks.api.intuit.com",
}
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def api_base_url(settings: Settings) -> str:
    if settings.uses_emulator:
        return settings.emulator_url.rstrip("/")
    return API_BASE_URLS[settings.qbo_environment]


@dataclass(frozen=True, slots=True)
class CompanyProfile:
    name: str | None
    country: str | None
    company_info: dict[str, Any]
    preferences: dict[str, Any]


async def read_company(
    settings: Settings,
    realm_id: str,
    access_token: SecretStr,
    transport: httpx.AsyncBaseTransport | None = None,
) -> CompanyProfile:
    """CompanyInfo and Preferences of a realm. Raises QboError."""
    base = f"{api_base_url(settings)}/v3/company/{realm_id}"
    headers = {
        "Authorization": f"Bearer {access_token.get_secret_value()}",
        "Accept": "application/json",
    }
    params = {"minorversion": str(settings.qbo_minor_version)}
    async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT, headers=headers) as http:
        info = await _get(http, f"{base}/companyinfo/{realm_id}", params)
        prefs = await _get(http, f"{base}/preferences", params)
    company = info.get("CompanyInfo", {})
    return CompanyProfile(
        name=company.get("CompanyName"),
        country=company.get("Country"),
        company_info=company,
        preferences=prefs.get("Preferences", {}),
    )


async def _get(http: httpx.AsyncClient, url: str, params: dict[str, str]) -> dict[str, Any]:
    try:
        response = await http.get(url, params=params)
    except httpx.TransportError as err:
        raise lost_answer(err, write=False) from None
    error = classify(response.status_code, response.content, dict(response.headers))
    if error is not None:
        raise error
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise QboError(Category.TRANSIENT, response.status_code, note="unreadable answer")
    return body
