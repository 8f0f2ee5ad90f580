"""A transport in front of the emulator that checks every write the service sends against
Intuit's XSD (element names and enumeration values, nested types included): a body QBO
would take differently from the emulator fails the test that sent it."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import httpx

from tests.support.xsd_names import unknown_names

# The path of a write: /v3/company/<realm>/<entity>; the entity's XSD type by its name.
WRITE = re.compile(r"^/v3/company/[0-9]+/(?P<entity>[a-z]+)$")
XSD_TYPES = {
    "customer": "Customer",
    "item": "Item",
    "invoice": "Invoice",
    "payment": "Payment",
    "creditmemo": "CreditMemo",
    "refundreceipt": "RefundReceipt",
    "salesreceipt": "SalesReceipt",
}


def write_problems(request: httpx.Request) -> list[str]:
    """What in a write (or each item of a batch) Intuit's XSD does not define."""
    match = WRITE.match(request.url.path)
    if request.method != "POST" or match is None or not request.content:
        return []
    try:
        body = json.loads(request.content, parse_float=Decimal)
    except ValueError:
        return []
    entity = match["entity"]
    if entity == "batch":
        problems: list[str] = []
        for item in body.get("BatchItemRequest", []):
            for type_name in XSD_TYPES.values():
                if type_name in item:
                    found = unknown_names(item[type_name], type_name)
                    problems += [f"batch {item.get('bId')}: {p}" for p in found]
        return problems
    named = XSD_TYPES.get(entity)
    if named is None:
        return []
    return [f"{entity}: {p}" for p in unknown_names(body, named)]


class XsdCheckingTransport(httpx.AsyncBaseTransport):
    """Passes every request to `inner`; keeps what the XSD check found in `problems`."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.problems: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.startswith("/v3/company/"):
            await request.aread()
            self.problems += write_problems(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
