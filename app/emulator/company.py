"""One emulated QBO company (realm) and everything in it: its records, tombstones, requestid
memos, counters, faults and limits. `app.emulator.seed` fills a new one;
`app.emulator.store` holds them all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.emulator.chaos import FaultSettings
from app.emulator.jsonio import parse_time
from app.emulator.limits import RealmLimiter
from app.emulator.webhooks import NOTIFIED_ENTITIES, Notification


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


TAX_ROUNDING_MODES = ("line", "rate")
DEFAULT_CUSTOM_FIELDS = ("Crew #", "PO Ref", "Sales Rep")


def _default_custom_fields() -> list[dict[str, Any]]:
    return [{"name": name, "enabled": True} for name in DEFAULT_CUSTOM_FIELDS]


@dataclass
class SalesSettings:
    """The company settings the invoice rules read (set by the admin API, shown in
    Preferences and CompanyInfo).

    `automated_sales_tax`: a US company on Intuit's automated sales tax engine
    (Preferences.TaxPrefs.PartnerTaxEnabled). `multicurrency`:
    CurrencyPrefs.MultiCurrencyEnabled. `allow_discount` / `allow_shipping`:
    SalesFormsPrefs.AllowDiscount / AllowShipping. `tax_rounding`: "line" rounds each
    line's tax to the cent and adds them up (QBO's documented default), "rate" rounds
    once per tax rate on the summed base. `custom_fields`: up to three string fields of
    sales forms, `{"name", "enabled"}`; DefinitionId is the position, 1 to 3.
    """

    automated_sales_tax: bool = False
    multicurrency: bool = False
    allow_discount: bool = True
    allow_shipping: bool = False
    tax_rounding: str = "line"
    custom_fields: list[dict[str, Any]] = field(default_factory=_default_custom_fields)


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
    sales: SalesSettings = field(default_factory=SalesSettings)
    requestids: dict[str, Memo] = field(default_factory=dict)
    # Forms e-mailed through `.../send`: {entity, Id, to, time} (app.emulator.sending).
    sends: list[dict[str, Any]] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)
    faults: FaultSettings = field(default_factory=FaultSettings)
    limiter: RealmLimiter = field(default_factory=RealmLimiter)
    listener: Callable[[Notification], None] | None = field(default=None, repr=False, compare=False)
    # False: the company's changes are sent to no webhook (they still show in CDC), as for a
    # company whose notifications never reach the service.
    webhooks: bool = True

    @property
    def is_us(self) -> bool:
        return self.country == "US"

    @property
    def is_ast(self) -> bool:
        """A US company whose sales tax the automated sales tax engine computes."""
        return self.is_us and self.sales.automated_sales_tax

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
        if self.listener is None or not self.webhooks or entity not in NOTIFIED_ENTITIES:
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
        if self.listener is not None and self.webhooks and entity in NOTIFIED_ENTITIES:
            self.listener(Notification(self.realm_id, entity, record_id, "Delete", when))
