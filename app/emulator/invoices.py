"""Invoice: a sales form with a due date and an open balance that payments and credits
reduce; delete and void. Lines, tax and the header are the sales-form rules
(`app.emulator.sales_lines`, `app.emulator.invoice_tax`, `app.emulator.sales_forms`)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from app.emulator import faults
from app.emulator.balances import applied_to, refresh_customer
from app.emulator.rules import Json, WriteContext, bump, deleted, passthrough, ref_value
from app.emulator.sales_forms import (
    FORM_HANDLED,
    book_form,
    form_record,
    parse_date,
    void_amounts,
)

HANDLED = FORM_HANDLED | frozenset(
    {
        "AllowIPNPayment",
        "AllowOnlinePayment",
        "AllowOnlineCreditCardPayment",
        "AllowOnlineACHPayment",
        "DueDate",
    }
)


def build_invoice(ctx: WriteContext, data: Json, existing: Json | None) -> Json:
    """Validate an invoice as QBO would and build the stored record with its totals.

    Raises 2010, 2020 (CustomerRef, Line, BillEmail), 2210 (e-mail), 2500/610 (a reference
    to a customer, item, tax code, class, department, term or discount account that is
    missing or inactive), 6070 (Amount vs Qty x UnitPrice), 6100 (US tax code), 6140
    (DocNumber), 2050, 6000 (discounts, currency, a total below what is applied).
    Without a DueDate the invoice is due TxnDate + the term's DueDays (Intuit's Invoice
    reference: "If date is not provided, the number of days specified in SalesTermRef
    added the transaction date will be used"), else 30 days after TxnDate.
    Balance = TotalAmt - what payment lines apply to it (money or credit, see
    `app.emulator.payments`).
    """
    booked = book_form(ctx, "Invoice", data, existing)
    applied = applied_to(ctx.company, "Invoice", existing["Id"]) if existing else Decimal(0)
    if applied > booked.total:
        raise faults.business_validation(
            "The invoice total can't be less than the payments applied to it."
        )
    txn_date = parse_date(data, "TxnDate", ctx.today)
    due = parse_date(data, "DueDate", _due_by_default(ctx, txn_date, booked.refs))
    lead: Json = {
        "AllowIPNPayment": False,
        "AllowOnlinePayment": False,
        "AllowOnlineCreditCardPayment": False,
        "AllowOnlineACHPayment": False,
    }
    record = form_record(
        ctx, booked, data, existing, lead=lead, balance=booked.total - applied, due_date=due
    )
    passthrough(record, data, HANDLED)
    return record


def _due_by_default(ctx: WriteContext, txn_date: str, refs: Json) -> date:
    days = 30
    term_ref = refs.get("SalesTermRef")
    if term_ref is not None:
        term = ctx.company.get("Term", term_ref["value"]) or {}
        days = int(term.get("DueDays") or 0)
    return date.fromisoformat(txn_date) + timedelta(days=days)


def check_unlinked(ctx: WriteContext, entity: str, record: Json, action: str) -> None:
    """QBO refuses to delete or void an invoice that payments are applied to (6000); the
    emulator refuses the same for a credit memo that a payment applies (UNCONFIRMED)."""
    if applied_to(ctx.company, entity, record["Id"]) > 0:
        raise faults.business_validation(
            f"This transaction is linked to payments. Unlink them before you {action} it."
        )


def delete_invoice(ctx: WriteContext, invoice: Json) -> Json:
    """Delete (tombstone kept for CDC); answers QBO's `status: Deleted` stub."""
    check_unlinked(ctx, "Invoice", invoice, "delete")
    answer = deleted(ctx, "Invoice", invoice)
    refresh_customer(ctx.company, ref_value(invoice.get("CustomerRef")), ctx.stamp)
    return answer


def void_invoice(ctx: WriteContext, invoice: Json) -> Json:
    """Void in place: amounts to zero, "Voided" prepended to PrivateNote, SyncToken + 1."""
    check_unlinked(ctx, "Invoice", invoice, "void")
    void_amounts(invoice)
    bump(invoice, ctx.stamp)
    ctx.company.put("Invoice", invoice, operation="Void")
    refresh_customer(ctx.company, ref_value(invoice.get("CustomerRef")), ctx.stamp)
    return invoice
