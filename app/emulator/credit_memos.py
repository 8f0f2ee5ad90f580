"""CreditMemo: a sales form that credits a customer instead of billing them; payments
apply its credit to invoices (`app.emulator.payments`). Create, update, delete; no void.

Sources, per rule:

- Shape (quickbooks-ruby fixture fetch_credit_memo.xml, a read): the invoice's header,
  lines and SubTotalLine, then TotalAmt, PrintStatus, EmailStatus, Balance and
  RemainingCredit, no DueDate. Elements: XSD CreditMemo (SalesTransaction +
  RemainingCredit, InvoiceRef, CreditMemoEx); RemainingCredit is "Non QB-writable".
- RemainingCredit = TotalAmt - what payments apply of it, and Balance the same (see
  `app.emulator.balances.refresh_applied`).
- CustomerRef and Line are required, as on an invoice (Intuit's CreditMemo reference lists
  both as required; UNCONFIRMED from a recording).
- Delete: `operation=delete` with Id and SyncToken answers the `status: Deleted` stub
  (quickbooks-ruby credit_memo_change.xml is such a stub in a CDC answer); a credit memo a
  payment applies is refused like an applied invoice (6000, UNCONFIRMED).
- Void: not offered. Intuit's maintainer on intuit/QuickBooks-V3-PHP-SDK issue #133: "The
  Operation Void for CreditMemo is not supported for Quickbooks Online" (the SDK's 200
  was a bug); the emulator answers Fault 500 Unsupported Operation (what QBO answers
  UNCONFIRMED).
"""

from __future__ import annotations

from decimal import Decimal

from app.emulator import faults
from app.emulator.balances import applied_to
from app.emulator.invoices import check_unlinked
from app.emulator.rules import Json, WriteContext, deleted, passthrough
from app.emulator.sales_forms import FORM_HANDLED, book_form, form_record

HANDLED = FORM_HANDLED | frozenset({"RemainingCredit"})


def build_credit_memo(ctx: WriteContext, data: Json, existing: Json | None) -> Json:
    """Validate a credit memo as QBO would and build the stored record.

    Raises what an invoice's lines and header raise (see `book_form`), and 6000 when an
    update brings TotalAmt below the credit already applied (UNCONFIRMED).
    """
    booked = book_form(ctx, "CreditMemo", data, existing, form="a credit memo")
    applied = applied_to(ctx.company, "CreditMemo", existing["Id"]) if existing else Decimal(0)
    if applied > booked.total:
        raise faults.business_validation(
            "The credit memo total can't be less than the credit applied from it."
        )
    remaining = booked.total - applied
    record = form_record(ctx, booked, data, existing, lead={}, balance=remaining)
    record["RemainingCredit"] = record["Balance"]
    passthrough(record, data, HANDLED)
    return record


def delete_credit_memo(ctx: WriteContext, memo: Json) -> Json:
    """Delete (tombstone kept for CDC); answers QBO's `status: Deleted` stub."""
    check_unlinked(ctx, "CreditMemo", memo, "delete")
    return deleted(ctx, "CreditMemo", memo)
