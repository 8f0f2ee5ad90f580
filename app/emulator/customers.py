"""Customer: names, DisplayName uniqueness across customers/vendors/employees, jobs."""

from __future__ import annotations

from decimal import Decimal

from app.emulator import faults
from app.emulator.rules import (
    Json,
    WriteContext,
    check_email,
    check_length,
    check_name,
    check_properties,
    next_version,
    passthrough,
    ref_value,
    resolve_ref,
)
from app.emulator.store import currency_name

NAME_LIMITS = {
    "Title": 16,
    "GivenName": 100,
    "MiddleName": 100,
    "FamilyName": 100,
    "Suffix": 16,
    "DisplayName": 500,
    "PrintOnCheckName": 110,
}
OTHER_LIMITS = {"CompanyName": 100, "Notes": 2000, "ResaleNum": 16, "BusinessNumber": 10}
PHONE_FIELDS = ("PrimaryPhone", "AlternatePhone", "Mobile", "Fax")
# Computed here, so never copied from the request.
HANDLED = frozenset(
    {
        "Taxable",
        "BillAddr",
        "ShipAddr",
        "Job",
        "BillWithParent",
        "ParentRef",
        "Level",
        "Balance",
        "BalanceWithJobs",
        "CurrencyRef",
        "PreferredDeliveryMethod",
        "FullyQualifiedName",
        "DisplayName",
        "PrintOnCheckName",
        "Active",
    }
)
MAX_JOB_LEVEL = 4


def name_key(name: str) -> str:
    """How names are compared for uniqueness: trimmed, case-insensitive."""
    return name.strip().casefold()


def name_taken(ctx: WriteContext, qualified_name: str, own_id: str | None) -> bool:
    """Whether a customer (other than `own_id`), vendor or employee already uses the name.

    Customers compare by FullyQualifiedName, so the same DisplayName may be used once at
    the top level and once under each parent: Intuit's recorded sandbox list
    (qbo_api-vcr all__customers__1.response.json) holds customer 60 "Jack Doe" and
    sub-customer 64 "Jack Doe" ("Doe, Jack:Jack Doe") side by side. A top-level name is
    unique across customers, vendors and employees (Customer reference [S19], Fault
    6240). Inactive records count too: QBO keeps their names reserved.
    """
    key = name_key(qualified_name)
    for record_id, record in ctx.company.table("Customer").items():
        if record_id == own_id:
            continue
        taken = record.get("FullyQualifiedName") or record.get("DisplayName", "")
        if name_key(str(taken)) == key:
            return True
    for entity in ("Vendor", "Employee"):
        for record in ctx.company.table(entity).values():
            if name_key(str(record.get("DisplayName", ""))) == key:
                return True
    return False


def _validate_contact(data: Json) -> None:
    for field in PHONE_FIELDS:
        phone = data.get(field)
        if isinstance(phone, dict):
            check_length(f"{field}.FreeFormNumber", phone.get("FreeFormNumber"), 30)
    email = data.get("PrimaryEmailAddr")
    if isinstance(email, dict) and email.get("Address") is not None:
        check_email("PrimaryEmailAddr.Address", str(email["Address"]))
    web = data.get("WebAddr")
    if isinstance(web, dict):
        check_length("WebAddr.URI", web.get("URI"), 1000)


def build_customer(ctx: WriteContext, data: Json, existing: Json | None) -> Json:
    """Validate a customer as QBO would and build the stored record.

    Raises 2010, 2040, 2050, 2210, 6080, 6240 (name taken, see `name_taken`), 2020 for
    ParentRef without Job (or Job without ParentRef), 2500/610 for a bad ParentRef.
    """
    check_properties("Customer", data)
    for field, limit in NAME_LIMITS.items():
        check_name(field, data.get(field), limit)
    for field, limit in OTHER_LIMITS.items():
        check_length(field, data.get(field), limit)
    _validate_contact(data)
    display = data.get("DisplayName")
    if not display:
        parts = [data.get(k) for k in ("Title", "GivenName", "MiddleName", "FamilyName")]
        parts.append(data.get("Suffix"))
        display = " ".join(str(p).strip() for p in parts if p)
    if not display:
        raise faults.no_name_provided()
    own_id = existing["Id"] if existing else None
    qualified, level, parent_ref = _hierarchy(ctx, data, str(display), own_id)
    if name_taken(ctx, qualified, own_id):
        raise faults.duplicate_name()
    sync_token, meta = next_version(existing, ctx.stamp)
    balance = existing["Balance"] if existing else Decimal(0)
    record: Json = {"Taxable": bool(data.get("Taxable", ctx.company.is_us))}
    for addr in ("BillAddr", "ShipAddr"):
        if isinstance(data.get(addr), dict):
            record[addr] = _address(ctx, data[addr], existing, addr)
    record["Job"] = parent_ref is not None
    record["BillWithParent"] = bool(data.get("BillWithParent", False))
    if parent_ref is not None:
        record["ParentRef"] = parent_ref
        record["Level"] = level
    record["Balance"] = balance
    record["BalanceWithJobs"] = existing["BalanceWithJobs"] if existing else Decimal(0)
    record["CurrencyRef"] = existing["CurrencyRef"] if existing else _currency(ctx, data)
    record["PreferredDeliveryMethod"] = data.get("PreferredDeliveryMethod", "Print")
    record.update({"domain": "QBO", "sparse": False, "Id": own_id, "SyncToken": sync_token})
    record["MetaData"] = meta
    for field in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "CompanyName"):
        if data.get(field) is not None:
            record[field] = data[field]
    record["FullyQualifiedName"] = qualified
    record["DisplayName"] = display
    record["PrintOnCheckName"] = data.get("PrintOnCheckName") or display
    record["Active"] = bool(data.get("Active", True))
    passthrough(record, data, HANDLED)
    if record["Id"] is None:
        record["Id"] = ctx.company.new_id("Customer")
    return record


def _hierarchy(
    ctx: WriteContext, data: Json, display: str, own_id: str | None
) -> tuple[str, int, Json | None]:
    """FullyQualifiedName, Level and ParentRef of a customer.

    A sub-customer (job) names its parent in ParentRef and says Job true; either without
    the other is Fault 2020 on ParentRef (routablehq/python-quickbooks issue #139: a
    ParentRef without Job answered "ParentRef Required Error"; which code QBO uses is
    UNCONFIRMED). The parent must exist (2500) and be active (610); jobs nest at most
    four levels below a top-level customer (Intuit's "Manage your customer list": "up to
    four levels deep"); FullyQualifiedName is "Parent:Child", Level the depth (as in the
    recorded customers).
    """
    job = data.get("Job") is True or str(data.get("Job")).lower() == "true"
    if data.get("ParentRef") is None:
        if job:
            raise faults.required_param("ParentRef")
        return display, 0, None
    if not job:
        raise faults.required_param("ParentRef")
    parent = resolve_ref(ctx.company, "Customer", data["ParentRef"], "ParentRef")
    level = int(parent.get("Level", 0)) + 1
    ancestor: Json | None = parent
    while ancestor is not None:
        if ancestor["Id"] == own_id:
            raise faults.business_validation("Customer hierarchy is too deep or circular.")
        above = ancestor.get("ParentRef")
        ancestor = ctx.company.get("Customer", str(above["value"])) if above else None
    if level > MAX_JOB_LEVEL:
        raise faults.business_validation("Customer hierarchy is too deep or circular.")
    return f"{parent['FullyQualifiedName']}:{display}", level, {"value": parent["Id"]}


def _currency(ctx: WriteContext, data: Json) -> Json:
    """A new customer's currency: the home currency, or in a multicurrency company the
    CurrencyRef sent ("Manage multiple currencies": a customer's currency is set once;
    an unknown code is Fault 2500, UNCONFIRMED)."""
    code, name = ctx.company.currency
    sent = ref_value(data.get("CurrencyRef"))
    if ctx.company.sales.multicurrency and sent is not None and sent.upper() != code:
        known = currency_name(sent.upper())
        if known is None:
            raise faults.invalid_reference("CurrencyRef", sent)
        return {"value": sent.upper(), "name": known}
    return {"value": code, "name": name}


def rename_jobs(ctx: WriteContext, parent: Json) -> None:
    """After a customer is renamed or moved, its jobs' FullyQualifiedName and Level follow
    (as QBO's list shows them; the jobs' SyncToken stays, UNCONFIRMED)."""
    for child in list(ctx.company.table("Customer").values()):
        if ref_value(child.get("ParentRef")) != parent["Id"]:
            continue
        qualified = f"{parent['FullyQualifiedName']}:{child['DisplayName']}"
        level = int(parent.get("Level", 0)) + 1
        if child.get("FullyQualifiedName") != qualified or child.get("Level") != level:
            child["FullyQualifiedName"] = qualified
            child["Level"] = level
            child["MetaData"] = {**child["MetaData"], "LastUpdatedTime": ctx.stamp}
            ctx.company.put("Customer", child)
            rename_jobs(ctx, child)


def _address(ctx: WriteContext, address: Json, existing: Json | None, field: str) -> Json:
    """Addresses get a server Id, kept across updates."""
    old = existing.get(field) if existing else None
    address_id = old.get("Id") if isinstance(old, dict) else None
    result = {k: v for k, v in address.items() if k != "Id"}
    return {"Id": address_id or ctx.company.new_id("PhysicalAddress"), **result}
