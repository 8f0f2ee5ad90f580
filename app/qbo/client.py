"""Reads from the QBO Accounting API that connecting a company needs (CompanyInfo, Preferences).

Every answer's `intuit_tid` is kept on errors, because Intuit support asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from app.config import QboEnvironment, Settings

API_BASE_URLS = {
    QboEnvironment.SANDBOX: "https://sandbox-quickbooks.api.intuit.com",
    QboEnvironment.PRODUCTION: "https://quickbooks.api.intuit.com",
}
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class QboApiError(Exception):
    """QBO answered with an error (or not at all); carries its Fault code and `intuit_tid`."""

    def __init__(self, status: int | None, code: str | None, message: str, intuit_tid: str | None):
        super().__init__(f"QBO {status or 'no answer'} {code or ''}: {message}".strip())
        self.status = status
        self.code = code
        self.message = message
        self.intuit_tid = intuit_tid


def api_base_url(settings: Settings) -> str:
    if settings.uses_emulator:
        return settings.emulator_url.rstrip("/")
    return API_BASE_URLS[settings.qbo_environment]


def _fault(body: Any) -> tuple[str | None, str]:
    """(code, message) of a Fault in either of QBO's shapes (`Fault`/`Error` or `fault`/`error`)."""
    if not isinstance(body, dict):
        return None, "unreadable answer"
    fault = body.get("Fault") or body.get("fault") or {}
    errors = fault.get("Error") or fault.get("error") or [{}]
    first = errors[0] if isinstance(errors, list) and errors else {}
    code = first.get("code")
    message = first.get("Message") or first.get("message") or "QBO error"
    return (str(code) if code is not None else None), str(message)


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
    """CompanyInfo and Preferences of a realm. Raises QboApiError."""
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
        raise QboApiError(None, None, type(err).__name__, None) from None
    tid = response.headers.get("intuit_tid")
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or "Fault" in body:
        code, message = _fault(body)
        raise QboApiError(response.status_code, code, message, tid)
    return body
