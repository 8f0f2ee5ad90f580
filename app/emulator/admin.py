"""Admin API under /admin for tests, scripts and benchmarks (JSON, no auth: local tool).

Companies, tokens without a browser, records as an accountant sees them, counters,
fault injection, revocation, limits and config, webhooks, the clock, reset.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from app.emulator import entities, faults
from app.emulator.balances import books_problems
from app.emulator.chaos import FaultSettings
from app.emulator.company import Company, Counters, SalesSettings
from app.emulator.config import EmulatorConfig, LimitsConfig, ReadQuotaConfig, WebhookConfig
from app.emulator.gateway import StoreDep, write_context
from app.emulator.jsonio import QboJSONResponse, loads, response_time
from app.emulator.rules import bump
from app.emulator.seed import preferences
from app.emulator.store import WRITABLE_ENTITIES, Store, clone

router = APIRouter(prefix="/admin", tags=["admin"])

COLLECTIONS = {
    "customers": "Customer",
    "items": "Item",
    "invoices": "Invoice",
    "payments": "Payment",
    "creditmemos": "CreditMemo",
    "salesreceipts": "SalesReceipt",
    "refundreceipts": "RefundReceipt",
    "accounts": "Account",
    "vendors": "Vendor",
    "employees": "Employee",
    "taxcodes": "TaxCode",
    "taxrates": "TaxRate",
    "taxagencies": "TaxAgency",
    "paymentmethods": "PaymentMethod",
    "classes": "Class",
    "departments": "Department",
    "terms": "Term",
}


class CustomFieldIn(BaseModel):
    """One sales-form custom field (a string field; DefinitionId is its position)."""

    name: str = Field(min_length=1, max_length=31)
    enabled: bool = True


class CompanyIn(BaseModel):
    name: str = "Sandbox Company"
    country: str = Field(default="US", min_length=2, max_length=2)
    custom_txn_numbers: bool = False
    automated_sales_tax: bool = False
    multicurrency: bool = False
    allow_discount: bool = True
    allow_shipping: bool = False
    tax_rounding: Literal["line", "rate"] = "line"
    custom_fields: list[CustomFieldIn] | None = Field(default=None, max_length=3)

    def sales(self) -> SalesSettings:
        settings = SalesSettings(
            automated_sales_tax=self.automated_sales_tax and self.country.upper() == "US",
            multicurrency=self.multicurrency,
            allow_discount=self.allow_discount,
            allow_shipping=self.allow_shipping,
            tax_rounding=self.tax_rounding,
        )
        if self.custom_fields is not None:
            settings.custom_fields = [f.model_dump() for f in self.custom_fields]
        return settings


class CompanyPatch(BaseModel):
    """What may change later. Automated sales tax is chosen at creation (it decides the
    seeded tax codes); multicurrency can be turned on but never off again (Intuit,
    "Manage multiple currencies": it "cannot be disabled once it's been enabled")."""

    name: str | None = None
    custom_txn_numbers: bool | None = None
    automated_sales_tax: bool | None = None
    multicurrency: bool | None = None
    allow_discount: bool | None = None
    allow_shipping: bool | None = None
    tax_rounding: Literal["line", "rate"] | None = None
    custom_fields: list[CustomFieldIn] | None = Field(default=None, max_length=3)
    # False: the company's changes reach no webhook (CDC still sees them).
    webhooks: bool | None = None


class TokenRequest(BaseModel):
    client_id: str = "emulator-client"
    client_secret: str = "emulator-secret"  # noqa: S105 - a default for local use
    scope: str = "com.intuit.quickbooks.accounting"


class ClientIn(BaseModel):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)


class ClockAdvance(BaseModel):
    seconds: float = Field(ge=0)


class ConfigPatch(BaseModel):
    """The knobs that may change while the emulator runs."""

    limits: LimitsConfig | None = None
    access_token_ttl_seconds: int | None = Field(default=None, ge=1)
    refresh_token_ttl_seconds: int | None = Field(default=None, ge=1)
    refresh_token_hard_ttl_seconds: int | None = Field(default=None, ge=1)
    refresh_rotation_seconds: float | None = Field(default=None, ge=0)
    max_batch_items: int | None = Field(default=None, ge=1)
    timeout_hold_seconds: float | None = Field(default=None, ge=0)
    webhooks: WebhookConfig | None = None


def company_summary(company: Company) -> dict[str, Any]:
    """A company as the admin API lists it."""
    return {
        "realm_id": company.realm_id,
        "name": company.name,
        "country": company.country,
        "custom_txn_numbers": company.custom_txn_numbers,
        "currency": company.currency[0],
        "webhooks": company.webhooks,
        **asdict(company.sales),
        "counts": {k: len(company.table(v)) for k, v in COLLECTIONS.items()},
    }


def _company(store: Store, realm_id: str) -> Company:
    company = store.company(realm_id)
    if company is None:
        raise HTTPException(404, f"no company with realm id {realm_id}")
    return company


def _entity(collection: str) -> str:
    if collection not in COLLECTIONS:
        raise HTTPException(404, f"unknown collection {collection}; use one of {list(COLLECTIONS)}")
    return COLLECTIONS[collection]


def _fault_answer(store: Store, fault: faults.QboFault) -> Response:
    body = {"Fault": fault.fault_json(), "time": response_time(store.now(), store.tz)}
    return QboJSONResponse(body, status_code=fault.status)


@router.post("/companies", status_code=201)
async def create_company(body: CompanyIn, store: StoreDep) -> dict[str, Any]:
    company = store.create_company(
        body.name, body.country, body.custom_txn_numbers, sales=body.sales()
    )
    return company_summary(company)


@router.get("/companies")
async def list_companies(store: StoreDep) -> list[dict[str, Any]]:
    return [company_summary(c) for c in store.companies.values()]


@router.get("/companies/{realm_id}")
async def get_company(realm_id: str, store: StoreDep) -> dict[str, Any]:
    return company_summary(_company(store, realm_id))


@router.patch("/companies/{realm_id}")
async def patch_company(realm_id: str, body: CompanyPatch, store: StoreDep) -> dict[str, Any]:
    company = _company(store, realm_id)
    if body.name is not None:
        company.name = body.name
        info = company.table("CompanyInfo")[company.realm_id]
        info["CompanyName"] = info["LegalName"] = body.name
        bump(info, store.meta_now())
    sales = company.sales
    if body.automated_sales_tax not in (None, sales.automated_sales_tax):
        raise HTTPException(400, "automated_sales_tax is chosen when the company is created")
    if body.multicurrency is False and sales.multicurrency:
        raise HTTPException(400, "multicurrency cannot be turned off once it is on")
    changed = False
    if body.webhooks is not None:
        company.webhooks = body.webhooks
    if body.custom_txn_numbers is not None:
        company.custom_txn_numbers = body.custom_txn_numbers
        changed = True
    for name in ("multicurrency", "allow_discount", "allow_shipping", "tax_rounding"):
        value = getattr(body, name)
        if value is not None:
            setattr(sales, name, value)
            changed = True
    if body.custom_fields is not None:
        sales.custom_fields = [f.model_dump() for f in body.custom_fields]
        changed = True
    if changed:
        old = company.table("Preferences")["1"]
        fresh = preferences(company, old["MetaData"]["CreateTime"])
        fresh["SyncToken"] = old["SyncToken"]
        bump(fresh, store.meta_now())
        company.put("Preferences", fresh)
    return company_summary(company)


@router.post("/companies/{realm_id}/tokens")
async def mint_tokens(
    realm_id: str, store: StoreDep, body: TokenRequest | None = None
) -> dict[str, Any]:
    """A token pair for the realm without the browser (as after an approved consent)."""
    _company(store, realm_id)
    request = body or TokenRequest()
    issued = store.tokens.mint(realm_id, request.client_id, request.client_secret, request.scope)
    return {**issued.as_json(include_hard_expiry=True), "realmId": realm_id}


@router.post("/companies/{realm_id}/revoke")
async def revoke_connection(realm_id: str, store: StoreDep) -> dict[str, Any]:
    """As if the user disconnected the app: tokens get 401, refresh gets invalid_grant."""
    _company(store, realm_id)
    return {"revoked_grants": store.tokens.revoke_realm(realm_id)}


@router.get("/companies/{realm_id}/counters")
async def get_counters(realm_id: str, store: StoreDep) -> dict[str, Any]:
    return _company(store, realm_id).counters.as_json()


@router.delete("/companies/{realm_id}/counters")
async def reset_counters(realm_id: str, store: StoreDep) -> dict[str, Any]:
    company = _company(store, realm_id)
    company.counters = Counters()
    return company.counters.as_json()


@router.get("/companies/{realm_id}/faults")
async def get_faults(realm_id: str, store: StoreDep) -> FaultSettings:
    return _company(store, realm_id).faults


@router.put("/companies/{realm_id}/faults")
async def set_faults(realm_id: str, body: FaultSettings, store: StoreDep) -> FaultSettings:
    company = _company(store, realm_id)
    company.faults = body
    return company.faults


@router.delete("/companies/{realm_id}/faults")
async def clear_faults(realm_id: str, store: StoreDep) -> FaultSettings:
    company = _company(store, realm_id)
    company.faults = FaultSettings()
    return company.faults


@router.get("/companies/{realm_id}/sends")
async def list_sends(realm_id: str, store: StoreDep) -> dict[str, Any]:
    """Every form e-mailed through `.../{entity}/{id}/send`, oldest first: entity, Id,
    the address it went to, the time (nothing is really mailed)."""
    return {"sends": [dict(s) for s in _company(store, realm_id).sends]}


@router.get("/companies/{realm_id}/books")
async def check_books(realm_id: str, store: StoreDep) -> dict[str, Any]:
    """Whether balances agree with the transactions: every invoice's Balance = TotalAmt -
    what payments apply (money and credits), every credit memo's RemainingCredit, every
    payment's UnappliedAmt; `problems` lists each disagreement (empty when none)."""
    problems = books_problems(_company(store, realm_id))
    return {"consistent": not problems, "problems": problems}


@router.get("/companies/{realm_id}/{collection}")
async def list_records(realm_id: str, collection: str, store: StoreDep) -> Response:
    """Every record of a kind, inactive ones included, in Id order."""
    company = _company(store, realm_id)
    records = company.table(_entity(collection)).values()
    return QboJSONResponse([clone(r) for r in sorted(records, key=lambda r: int(r["Id"]))])


@router.get("/companies/{realm_id}/{collection}/{record_id}")
async def get_record(realm_id: str, collection: str, record_id: str, store: StoreDep) -> Response:
    record = _company(store, realm_id).get(_entity(collection), record_id)
    if record is None:
        raise HTTPException(404, "no such record")
    return QboJSONResponse(clone(record))


@router.patch("/companies/{realm_id}/{collection}/{record_id}")
async def edit_record(
    realm_id: str, collection: str, record_id: str, request: Request, store: StoreDep
) -> Response:
    """Change fields as an accountant would in QBO's UI: the same rules apply, the
    SyncToken and LastUpdatedTime move, so a client holding the old SyncToken gets 5010."""
    try:
        changes = loads(await request.body())
    except ValueError as exc:
        raise HTTPException(400, "body must be a JSON object") from exc
    if not isinstance(changes, dict):
        raise HTTPException(400, "body must be a JSON object")
    return _edit(store, realm_id, collection, record_id, changes)


@router.post("/companies/{realm_id}/{collection}/{record_id}/deactivate")
async def deactivate_record(
    realm_id: str, collection: str, record_id: str, store: StoreDep
) -> Response:
    """Make a name-list record inactive (Active=false), as QBO's "Make inactive": queries
    leave it out from then on and writes that refer to it get Fault 610. Works on every
    collection whose records carry `Active` (accounts, payment methods, classes,
    departments, terms, tax codes and rates too); 400 for the others."""
    record = _company(store, realm_id).get(_entity(collection), record_id)
    if record is not None and "Active" not in record:
        raise HTTPException(400, f"{collection} records have no Active flag")
    return _edit(store, realm_id, collection, record_id, {"Active": False})


def _edit(
    store: Store, realm_id: str, collection: str, record_id: str, changes: dict[str, Any]
) -> Response:
    company = _company(store, realm_id)
    entity = _entity(collection)
    record = company.get(entity, record_id)
    if record is None:
        raise HTTPException(404, "no such record")
    if entity in WRITABLE_ENTITIES:
        body = {**changes, "Id": record_id, "SyncToken": record["SyncToken"], "sparse": True}
        ctx = write_context(store, company)
        try:
            return QboJSONResponse(entities.update(ctx, entity, body))
        except faults.QboFault as fault:
            return _fault_answer(store, fault)
    protected = {"Id", "SyncToken", "MetaData"}
    record.update({k: v for k, v in changes.items() if k not in protected})
    bump(record, store.meta_now())
    return QboJSONResponse(clone(record))


@router.delete("/companies/{realm_id}/{collection}/{record_id}")
async def delete_record(
    realm_id: str, collection: str, record_id: str, store: StoreDep
) -> dict[str, Any]:
    """Remove a record outright (a tombstone stays for CDC)."""
    company = _company(store, realm_id)
    entity = _entity(collection)
    if company.get(entity, record_id) is None:
        raise HTTPException(404, "no such record")
    company.remove(entity, record_id, store.now())
    return {"deleted": {"entity": entity, "Id": record_id}}


@router.post("/clients", status_code=201)
async def register_client(body: ClientIn, store: StoreDep) -> dict[str, Any]:
    """Accept only registered clients from now on (by default any pair is accepted)."""
    store.tokens.register_client(body.client_id, body.client_secret)
    return {"clients": sorted(store.tokens.clients)}


@router.get("/limits")
async def get_limits(store: StoreDep) -> LimitsConfig:
    return store.config.limits


@router.put("/limits")
async def set_limits(body: LimitsConfig, store: StoreDep) -> LimitsConfig:
    store.config.limits = body
    return store.config.limits


@router.get("/reads")
async def get_reads(store: StoreDep) -> dict[str, Any]:
    """Metered reads per app (client id) and month, and the monthly quota."""
    usage: dict[str, dict[str, int]] = {}
    for (client_id, month), n in sorted(store.read_usage.items()):
        usage.setdefault(client_id, {})[month] = n
    return {"monthly_quota": store.config.reads.monthly_quota, "usage": usage}


@router.put("/reads/quota")
async def set_read_quota(body: ReadQuotaConfig, store: StoreDep) -> ReadQuotaConfig:
    """Set the monthly quota of metered reads per app (None: none)."""
    store.config.reads = body
    return store.config.reads


@router.get("/config")
async def get_config(store: StoreDep) -> EmulatorConfig:
    return store.config


@router.patch("/config")
async def patch_config(body: ConfigPatch, store: StoreDep) -> EmulatorConfig:
    for name in body.model_dump(exclude_none=True):
        setattr(store.config, name, getattr(body, name))
    return store.config


@router.get("/webhooks")
async def get_webhooks(store: StoreDep) -> WebhookConfig:
    return store.config.webhooks


@router.put("/webhooks")
async def set_webhooks(body: WebhookConfig, store: StoreDep) -> WebhookConfig:
    """Replace the webhook settings; `url: null` stops queueing new notifications."""
    store.config.webhooks = body
    return store.config.webhooks


@router.get("/webhooks/deliveries")
async def list_deliveries(store: StoreDep) -> dict[str, Any]:
    """Every delivery attempt, oldest first (dropped ones included), and what is queued."""
    dispatcher = store.webhooks
    return {
        "pending": len(dispatcher.pending),
        "attempts": [attempt.as_json() for attempt in dispatcher.attempts],
    }


@router.delete("/webhooks/deliveries")
async def clear_deliveries(store: StoreDep) -> dict[str, Any]:
    """Forget the attempt log (retries still due keep running)."""
    store.webhooks.attempts.clear()
    return {"pending": len(store.webhooks.pending), "attempts": []}


@router.post("/webhooks/flush")
async def flush_webhooks(store: StoreDep) -> dict[str, Any]:
    """Send what is queued now (no aggregation wait, no delay); answers that attempt."""
    attempt = await store.webhooks.flush()
    return {"attempt": attempt.as_json() if attempt is not None else None}


@router.get("/clock")
async def get_clock(store: StoreDep) -> dict[str, Any]:
    return {"now": store.now().isoformat(), "elapsed_seconds": store.clock.elapsed()}


@router.post("/clock/advance")
async def advance_clock(body: ClockAdvance, store: StoreDep) -> dict[str, Any]:
    """Move time forward: tokens expire, windows slide, rotation becomes due."""
    store.clock.advance(body.seconds)
    return {"now": store.now().isoformat(), "elapsed_seconds": store.clock.elapsed()}


class LoseReplies(BaseModel):
    count: int = Field(default=1, ge=0, le=1000)


@router.post("/oauth/lose-refresh-replies")
async def lose_refresh_replies(body: LoseReplies, store: StoreDep) -> dict[str, Any]:
    """The next `count` refreshes are applied (tokens rotate as usual) but answered 504, as
    if the answer were lost on the way: the client never learns the new refresh token."""
    store.tokens.lose_refresh_replies = body.count
    return {"lose_refresh_replies": body.count}


@router.post("/reset")
async def reset(store: StoreDep) -> dict[str, Any]:
    """Forget every company, grant and token."""
    store.reset()
    return {"companies": 0}
