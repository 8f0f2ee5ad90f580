"""In-memory state of one emulator: companies, their records, requestid memos, counters.

Records are kept in the JSON shape QBO answers with (amounts as Decimal), so reading one
back is a copy, not a conversion. Everything hangs off one `Store` per app instance.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx

from app.emulator.chaos import FaultSettings
from app.emulator.clock import Clock
from app.emulator.config import EmulatorConfig
from app.emulator.jsonio import company_tz, meta_time, parse_time
from app.emulator.limits import RealmLimiter
from app.emulator.tokens import TokenStore
from app.emulator.webhook_delivery import WebhookDispatcher
from app.emulator.webhooks import NOTIFIED_ENTITIES, Notification

# URL segment -> entity name, for the entities the Accounting routes expose.
ENTITY_PATHS: dict[str, str] = {
    "customer": "Customer",
    "item": "Item",
    "invoice": "Invoice",
    "payment": "Payment",
    "account": "Account",
    "vendor": "Vendor",
    "employee": "Employee",
    "taxcode": "TaxCode",
    "companyinfo": "CompanyInfo",
    "preferences": "Preferences",
}
NAME_LIST_ENTITIES = frozenset({"Customer", "Item", "Account", "Vendor", "Employee", "TaxCode"})
TRANSACTION_ENTITIES = frozenset({"Invoice", "Payment"})
WRITABLE_ENTITIES = frozenset({"Customer", "Item", "Invoice", "Payment"})


@dataclass
class Memo:
    """A stored answer to replay for a repeated requestid."""

    status: int
    body: bytes
    media_type: str


@dataclass
class Counters:
    """What a realm has been served, for the admin API and benchmarks."""

    served: int = 0
    throttled: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests_served": self.served,
            "throttled_429": self.throttled,
            "by_endpoint": dict(self.by_endpoint),
            "by_status": dict(self.by_status),
        }


@dataclass
class Company:
    """One QBO company (realm) and everything in it.

    `put` and `remove` are the only ways a record changes (an edit made in place is
    stored again with `put`), so they are where `listener` hears of every change.
    """

    realm_id: str
    name: str
    country: str
    custom_txn_numbers: bool
    currency: tuple[str, str]
    created_at: datetime
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deleted: dict[str, dict[str, datetime]] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=dict)
    next_doc_number: int = 1001
    tax_rates: dict[str, Any] = field(default_factory=dict)
    requestids: dict[str, Memo] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    faults: FaultSettings = field(default_factory=FaultSettings)
    limiter: RealmLimiter = field(default_factory=RealmLimiter)
    listener: Callable[[Notification], None] | None = field(default=None, repr=False, compare=False)

    @property
    def is_us(self) -> bool:
        return self.country == "US"

    def table(self, entity: str) -> dict[str, dict[str, Any]]:
        """The records of one entity type (created empty on first use)."""
        return self.records.setdefault(entity, {})

    def get(self, entity: str, record_id: str) -> dict[str, Any] | None:
        """The stored record (not a copy) or None."""
        return self.records.get(entity, {}).get(record_id)

    def new_id(self, entity: str) -> str:
        """Next Id for an entity type; Ids are per type, as strings of digits."""
        value = self.next_ids.get(entity, 1)
        self.next_ids[entity] = value + 1
        return str(value)

    def put(self, entity: str, record: dict[str, Any], operation: str | None = None) -> None:
        """Insert or replace a record under its Id (also after changing it in place).

        Side effect: tells the listener, as `operation` (default "Create" for a new Id,
        "Update" otherwise) at the record's LastUpdatedTime.
        """
        table = self.table(entity)
        existed = record["Id"] in table
        table[record["Id"]] = record
        if self.listener is None or entity not in NOTIFIED_ENTITIES:
            return
        when = parse_time(record["MetaData"]["LastUpdatedTime"])
        if when is not None:
            operation = operation or ("Update" if existed else "Create")
            self.listener(Notification(self.realm_id, entity, record["Id"], operation, when))

    def remove(self, entity: str, record_id: str, when: datetime) -> None:
        """Delete a record, keeping a tombstone (with the deletion time) for CDC.

        Side effect: tells the listener ("Delete" at `when`).
        """
        if self.table(entity).pop(record_id, None) is None:
            return
        self.deleted.setdefault(entity, {})[record_id] = when
        if self.listener is not None and entity in NOTIFIED_ENTITIES:
            self.listener(Notification(self.realm_id, entity, record_id, "Delete", when))


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

    def now(self) -> datetime:
        """Current (movable) time."""
        return self.clock.now()

    def meta_now(self) -> str:
        """Current time as a MetaData timestamp."""
        return meta_time(self.now(), self.tz)

    def create_company(
        self, name: str, country: str = "US", custom_txn_numbers: bool = False
    ) -> Company:
        """Create a company with its seeded accounts, item, vendor, employee (and tax codes).

        Side effect: registers it under a fresh realm id.
        """
        from app.emulator.seed import seed_company

        realm_id = self._new_realm_id()
        company = Company(
            realm_id=realm_id,
            name=name,
            country=country.upper(),
            custom_txn_numbers=custom_txn_numbers,
            currency=currency_for(country.upper()),
            created_at=self.now(),
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


def currency_for(country: str) -> tuple[str, str]:
    """Home currency (code, name) of a company in `country`."""
    return _CURRENCIES.get(country, ("USD", "United States Dollar"))


def clone(record: dict[str, Any]) -> dict[str, Any]:
    """A deep copy, so answers never alias stored state."""
    return copy.deepcopy(record)
