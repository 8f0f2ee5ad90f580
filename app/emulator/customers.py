"""Customer: names, DisplayName uniqueness across customers/vendors/employees, jobs."""

from __future__ import annotations

from decimal import Decimal

from app.emulator import faults
from app.emulator.rules import (
    Json,
    WriteContext,
    check_length,
    check_name,
    check_properties,
    next_version,
    passthrough,
    resolve_ref,
)

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


def name_taken(ctx: WriteContext, display_name: str, own_id: str | None) -> bool:
    """Whether a customer (other than `own_id`), vendor or employee already uses the name.

    Inactive records count too: QBO keeps their names reserved.
    """
    key = name_key(display_name)
    for entity in ("Customer", "Vendor", "Employee"):
        for record_id, record in ctx.company.table(entity).items():
            if entity == "Customer" and record_id == own_id:
                continue
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
        address = str(email["Address"])
        if "@" not in address or "." not in address.split("@")[-1]:
            raise faults.QboFault(
                [
                    faults.FaultError(
                        "2210",
                        "Email Address does not conform to the syntax rules of RFC 822",
                        f"Email Address does not conform to the syntax rules of RFC 822: {address}",
                        "PrimaryEmailAddr.Address",
                    )
                ]
            )
    web = data.get("WebAddr")
    if isinstance(web, dict):
        check_length("WebAddr.URI", web.get("URI"), 1000)


def build_customer(ctx: WriteContext, data: Json, existing: Json | None) -> Json:
    """Validate a customer as QBO would and build the stored record.

    Raises 2010, 2040, 2050, 2210, 6080, 6240, and 2500/610 for a bad ParentRef.
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
    if name_taken(ctx, display, own_id):
        raise faults.duplicate_name()
    qualified, level, parent_ref = display, 0, None
    if data.get("ParentRef") is not None:
        parent = resolve_ref(ctx.company, "Customer", data["ParentRef"], "ParentRef")
        level = int(parent.get("Level", 0)) + 1
        if level > MAX_JOB_LEVEL or parent["Id"] == own_id:
            raise faults.business_validation("Customer hierarchy is too deep or circular.")
        qualified = f"{parent['FullyQualifiedName']}:{display}"
        parent_ref = {"value": parent["Id"]}
    code, currency_name = ctx.company.currency
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
    record["CurrencyRef"] = (
        existing["CurrencyRef"] if existing else {"value": code, "name": currency_name}
    )
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


def _address(ctx: WriteContext, address: Json, existing: Json | None, field: str) -> Json:
    """Addresses get a server Id, kept across updates."""
    old = existing.get(field) if existing else None
    address_id = old.get("Id") if isinstance(old, dict) else None
    result = {k: v for k, v in address.items() if k != "Id"}
    return {"Id": address_id or ctx.company.new_id("PhysicalAddress"), **result}
