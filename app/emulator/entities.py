"""The write operations of the Accounting API, dispatched to each entity's rules.

Every function validates fully before it changes anything, so a Fault leaves the
company untouched; derived amounts (invoice and customer balances) are refreshed after.
"""

from __future__ import annotations

from collections.abc import Callable

from app.emulator import faults
from app.emulator.balances import refresh_applied, refresh_customer
from app.emulator.credit_memos import build_credit_memo, delete_credit_memo
from app.emulator.customers import build_customer, rename_jobs
from app.emulator.invoices import build_invoice, delete_invoice, void_invoice
from app.emulator.items import build_item
from app.emulator.payments import build_payment, delete_payment, linked_txns, void_payment
from app.emulator.receipts import (
    build_refund_receipt,
    build_sales_receipt,
    delete_receipt,
    void_receipt,
)
from app.emulator.rules import (
    Json,
    WriteContext,
    existing_for_write,
    merged_for_update,
    ref_value,
)
from app.emulator.store import WRITABLE_ENTITIES, clone

Builder = Callable[[WriteContext, Json, Json | None], Json]
Operation = Callable[[WriteContext, Json], Json]
BUILDERS: dict[str, Builder] = {
    "Customer": build_customer,
    "Item": build_item,
    "Invoice": build_invoice,
    "Payment": build_payment,
    "CreditMemo": build_credit_memo,
    "SalesReceipt": build_sales_receipt,
    "RefundReceipt": build_refund_receipt,
}
# `operation=delete`: transactions only (name lists are made inactive instead).
REMOVERS: dict[str, Operation] = {
    "Invoice": delete_invoice,
    "Payment": delete_payment,
    "CreditMemo": delete_credit_memo,
    "SalesReceipt": lambda ctx, record: delete_receipt(ctx, "SalesReceipt", record),
    "RefundReceipt": lambda ctx, record: delete_receipt(ctx, "RefundReceipt", record),
}
# Voids; how the URL asks for one differs per entity (see VOID_BY_OPERATION / _BY_INCLUDE).
VOIDERS: dict[str, Operation] = {
    "Invoice": void_invoice,
    "Payment": void_payment,
    "SalesReceipt": lambda ctx, record: void_receipt(ctx, "SalesReceipt", record),
    "RefundReceipt": lambda ctx, record: void_receipt(ctx, "RefundReceipt", record),
}
# `?operation=void` (invoice: Intuit's reference; the receipts: see app.emulator.receipts).
VOID_BY_OPERATION = frozenset({"Invoice", "SalesReceipt", "RefundReceipt"})
# `?operation=update&include=void` (payment: Intuit's reference; sales receipt: PHP SDK).
VOID_BY_INCLUDE = frozenset({"Payment", "SalesReceipt"})


def _check_writable(entity: str, operation: str) -> None:
    if entity not in WRITABLE_ENTITIES:
        raise faults.unsupported_operation(f"{operation} on {entity}")


def _body(body: object) -> Json:
    if not isinstance(body, dict):
        raise faults.malformed_json("Request body must be a JSON object")
    return body


def create(ctx: WriteContext, entity: str, body: object) -> Json:
    """Create a record; answers the stored object (a copy)."""
    _check_writable(entity, "create")
    data = _body(body)
    if data.get("Id") not in (None, ""):
        # A body with an Id is an update in QBO's single create/update endpoint.
        return update(ctx, entity, data)
    record = BUILDERS[entity](ctx, data, None)
    ctx.company.put(entity, record)
    _after_write(ctx, entity, record, None)
    return clone(record)


def update(ctx: WriteContext, entity: str, body: object) -> Json:
    """Full or sparse (`"sparse": true`) update; needs the current SyncToken (else 5010)."""
    _check_writable(entity, "update")
    data = _body(body)
    existing = existing_for_write(ctx.company, entity, data)
    sparse = data.get("sparse") is True or str(data.get("sparse")).lower() == "true"
    merged = merged_for_update(existing, data, sparse)
    previous = clone(existing)
    record = BUILDERS[entity](ctx, merged, existing)
    ctx.company.put(entity, record)
    _after_write(ctx, entity, record, previous)
    return clone(ctx.company.get(entity, record["Id"]) or record)


def delete(ctx: WriteContext, entity: str, body: object) -> Json:
    """`operation=delete`: only transactions can be deleted; name lists are made inactive."""
    data = _body(body)
    remover = REMOVERS.get(entity)
    if remover is None:
        raise faults.unsupported_operation(f"delete on {entity}")
    existing = existing_for_write(ctx.company, entity, data)
    previous = clone(existing)
    answer = remover(ctx, existing)
    _after_write(ctx, entity, None, previous)
    return answer


def void(ctx: WriteContext, entity: str, body: object) -> Json:
    """Void a transaction in place (see VOIDERS); a credit memo cannot be voided."""
    data = _body(body)
    voider = VOIDERS.get(entity)
    if voider is None:
        raise faults.unsupported_operation(f"void on {entity}")
    existing = existing_for_write(ctx.company, entity, data)
    previous = clone(existing)
    record = voider(ctx, existing)
    _after_write(ctx, entity, record, previous)
    return clone(record)


def _after_write(
    ctx: WriteContext, entity: str, record: Json | None, previous: Json | None
) -> None:
    """Keep derived amounts in step with a write that has been stored."""
    company = ctx.company
    renamed = (
        record is not None
        and previous is not None
        and (record.get("FullyQualifiedName") != previous.get("FullyQualifiedName"))
    )
    if entity == "Customer" and record is not None and renamed:
        rename_jobs(ctx, record)
    if entity == "Payment":
        for txn_type, txn_id in sorted(linked_txns(previous) | linked_txns(record)):
            refresh_applied(company, txn_type, txn_id, ctx.stamp)
    customers = {ref_value((r or {}).get("CustomerRef")) for r in (record, previous)}
    if entity in ("Invoice", "Payment"):
        for customer_id in customers:
            refresh_customer(company, customer_id, ctx.stamp)
