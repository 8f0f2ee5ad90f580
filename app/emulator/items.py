"""Item (product or service): unique Name, Type, income/expense/asset accounts."""

from __future__ import annotations

from decimal import Decimal

from app.emulator import faults
from app.emulator.customers import name_key
from app.emulator.jsonio import plain_number
from app.emulator.rules import (
    Json,
    WriteContext,
    check_length,
    check_name,
    check_properties,
    decimal_of,
    next_version,
    passthrough,
    resolve_ref,
)

ITEM_TYPES = frozenset(
    {
        "Assembly",
        "Category",
        "Fixed Asset",
        "Group",
        "Inventory",
        "NonInventory",
        "Other Charge",
        "Payment",
        "Service",
        "Subtotal",
        "Discount",
        "Tax",
        "Tax Group",
        "Bundle",
    }
)
CREATABLE_TYPES = frozenset({"Service", "NonInventory", "Inventory", "Category"})
HANDLED = frozenset(
    {
        "Name",
        "Active",
        "FullyQualifiedName",
        "Taxable",
        "UnitPrice",
        "Type",
        "IncomeAccountRef",
        "ExpenseAccountRef",
        "AssetAccountRef",
        "PurchaseCost",
        "TrackQtyOnHand",
        "QtyOnHand",
        "InvStartDate",
    }
)


def _account_ref(ctx: WriteContext, data: Json, field: str) -> Json:
    account = resolve_ref(ctx.company, "Account", data.get(field), field)
    return {"value": account["Id"], "name": account["Name"]}


def build_item(ctx: WriteContext, data: Json, existing: Json | None) -> Json:
    """Validate an item as QBO would and build the stored record.

    Raises 2010, 2020 (Name, Type, accounts, inventory fields), 2040/2050 (Name),
    2170 (Type), 6240 (Name taken by another item), 2500/610 (account refs).
    """
    check_properties("Item", data)
    name = data.get("Name")
    if not name:
        raise faults.required_param("Name")
    check_name("Name", name, 100)
    check_length("Sku", data.get("Sku"), 100)
    check_length("Description", data.get("Description"), 4000)
    item_type = data.get("Type")
    if not item_type:
        raise faults.required_param("Type")
    if item_type not in ITEM_TYPES:
        raise faults.invalid_enum("Type", str(item_type))
    if item_type not in CREATABLE_TYPES:
        raise faults.business_validation(f"Items of type {item_type} cannot be created.")
    own_id = existing["Id"] if existing else None
    for record_id, other in ctx.company.table("Item").items():
        if record_id != own_id and name_key(str(other.get("Name", ""))) == name_key(name):
            raise faults.duplicate_item_name()
    if existing and existing.get("TrackQtyOnHand") and data.get("TrackQtyOnHand") is False:
        raise faults.business_validation("You can't turn off quantity tracking.")
    sync_token, meta = next_version(existing, ctx.stamp)
    record: Json = {"Name": name}
    if data.get("Description") is not None:
        record["Description"] = data["Description"]
    record["Active"] = bool(data.get("Active", True))
    record["FullyQualifiedName"] = name
    record["Taxable"] = bool(data.get("Taxable", False))
    record["UnitPrice"] = plain_number(decimal_of(data, "UnitPrice") or Decimal(0))
    record["Type"] = item_type
    if item_type != "Category":
        record["IncomeAccountRef"] = _account_ref(ctx, data, "IncomeAccountRef")
    record["PurchaseCost"] = plain_number(decimal_of(data, "PurchaseCost") or Decimal(0))
    if item_type == "Inventory":
        record["ExpenseAccountRef"] = _account_ref(ctx, data, "ExpenseAccountRef")
        record["AssetAccountRef"] = _account_ref(ctx, data, "AssetAccountRef")
        qty = decimal_of(data, "QtyOnHand")
        if qty is None:
            raise faults.required_param("QtyOnHand")
        if not data.get("InvStartDate"):
            raise faults.required_param("InvStartDate")
        record["TrackQtyOnHand"] = True
        record["QtyOnHand"] = plain_number(qty)
        record["InvStartDate"] = data["InvStartDate"]
    else:
        if data.get("ExpenseAccountRef") is not None:
            record["ExpenseAccountRef"] = _account_ref(ctx, data, "ExpenseAccountRef")
        record["TrackQtyOnHand"] = False
    record.update({"domain": "QBO", "sparse": False, "Id": own_id, "SyncToken": sync_token})
    record["MetaData"] = meta
    passthrough(record, data, HANDLED)
    if record["Id"] is None:
        record["Id"] = ctx.company.new_id("Item")
    return record
