"""In-memory state of one emulator: companies, their records, requestid memos, counters.

Records are kept in the JSON shape QBO answers with (amounts as Decimal), so reading one
back is a copy, not a conversion. Everything hangs off one `Store` per app instance.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime, timezone
from typing import Any

import httpx

from app.emulator.clock import Clock
from app.emulator.company import Company, SalesSettings
from app.emulator.config import EmulatorConfig
from app.emulator.jsonio import company_tz, meta_time
from app.emulator.seed import seed_company
from app.emulator.tokens import TokenStore
from app.emulator.webhook_delivery import WebhookDispatcher

# URL segment -> entity name, for the entities the Accounting routes expose.
ENTITY_PATHS: dict[str, str] = {
    "customer": "Customer",
    "item": "Item",
    "invoice": "Invoice",
    "payment": "Payment",
    "creditmemo": "CreditMemo",
    "salesreceipt": "SalesReceipt",
    "refundreceipt": "RefundReceipt",
    "account": "Account",
    "vendor": "Vendor",
    "employee": "Employee",
    "taxcode": "TaxCode",
    "taxrate": "TaxRate",
    "taxagency": "TaxAgency",
    "paymentmethod": "PaymentMethod",
    "class": "Class",
    "department": "Department",
    "term": "Term",
    "companyinfo": "CompanyInfo",
    "preferences": "Preferences",
}
# Lists whose records carry `Active`: a query leaves the inactive ones out unless it asks.
NAME_LIST_ENTITIES = frozenset(
    {
        "Customer",
        "Item",
        "Account",
        "Vendor",
        "Employee",
        "TaxCode",
        "TaxRate",
        "PaymentMethod",
        "Class",
        "Department",
        "Term",
    }
)
TRANSACTION_ENTITIES = frozenset(
    {"Invoice", "Payment", "CreditMemo", "SalesReceipt", "RefundReceipt"}
)
WRITABLE_ENTITIES = frozenset({"Customer", "Item", *TRANSACTION_ENTITIES})


class Store:
    """All state of one emulator instance; the only object routes share."""

    def __init__(
        self, config: EmulatorConfig, webhook_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.clock = Clock(frozen=config.frozen_clock)
        self.rng = random.Random(config.seed)
        self.tz: timezone = company_tz(config.utc_offset_minutes)
        self.companies: dict[str, Company] = {}
        self.tokens = TokenStore(config, self.clock)
        self.webhooks = WebhookDispatcher(config, self.clock, self.rng, webhook_transport)
        # Metered reads per (client id, calendar month "YYYY-MM" UTC), as Intuit counts them.
        self.read_usage: dict[tuple[str, str], int] = {}

    def now(self) -> datetime:
        """Current (movable) time."""
        return self.clock.now()

    def meta_now(self) -> str:
        """Current time as a MetaData timestamp."""
        return meta_time(self.now(), self.tz)

    def create_company(
        self,
        name: str,
        country: str = "US",
        custom_txn_numbers: bool = False,
        sales: SalesSettings | None = None,
    ) -> Company:
        """Create a company with its seeded accounts, item, vendor, employee (and tax codes).

        Side effect: registers it under a fresh realm id.
        """
        realm_id = self._new_realm_id()
        company = Company(
            realm_id=realm_id,
            name=name,
            country=country.upper(),
            custom_txn_numbers=custom_txn_numbers,
            currency=currency_for(country.upper()),
            created_at=self.now(),
            sales=sales or SalesSettings(),
        )
        seed_company(company, self.meta_now(), self.now().astimezone(self.tz).date())
        # Listening starts after seeding: a new company's defaults notify nobody.
        company.listener = self.webhooks.notify
        self.companies[realm_id] = company
        return company

    def company(self, realm_id: str) -> Company | None:
        """The company for a realm id, or None."""
        return self.companies.get(realm_id)

    def reset(self) -> None:
        """Forget every company, grant, token and queued notification (registered clients stay)."""
        self.companies.clear()
        self.read_usage.clear()
        self.tokens.reset()
        self.webhooks.discard_pending()

    def _new_realm_id(self) -> str:
        while True:
            candidate = str(9_130_350_000_000_000 + self.rng.randrange(10**12))
            if candidate not in self.companies:
                return candidate


_CURRENCIES = {
    "US": ("USD", "United States Dollar"),
    "GB": ("GBP", "British Pound Sterling"),
    "UK": ("GBP", "British Pound Sterling"),
    "CA": ("CAD", "Canadian Dollar"),
    "AU": ("AUD", "Australian Dollar"),
    "FR": ("EUR", "Euro"),
    "IN": ("INR", "Indian Rupee"),
}


_OTHER_CURRENCIES = {
    "EUR": "Euro",
    "JPY": "Japanese Yen",
    "MXN": "Mexican Peso",
    "CHF": "Swiss Franc",
    "NZD": "New Zealand Dollar",
}


def currency_name(code: str) -> str | None:
    """The name QBO gives a currency code, None for one the emulator does not know."""
    for known, name in _CURRENCIES.values():
        if known == code:
            return name
    return _OTHER_CURRENCIES.get(code)


def currency_for(country: str) -> tuple[str, str]:
    """Home currency (code, name) of a company in `country`."""
    return _CURRENCIES.get(country, ("USD", "United States Dollar"))


def clone(record: dict[str, Any]) -> dict[str, Any]:
    """A deep copy, so answers never alias stored state."""
    return copy.deepcopy(record)
