"""SalesReceipt (a sale paid on the spot) and RefundReceipt (money paid back): sales forms
with the money's account and method instead of an open balance; void and delete.

Sources, per rule:

- Shape: qbo_api-vcr all__sales_receipts and update__sales_receipt (JSON answers of a
  sandbox): the invoice's header and lines, no DueDate, `Balance` 0, `DepositToAccountRef`
  with its name (`{"value": "4", "name": "Undeposited Funds"}`), `PaymentMethodRef` with
  its name, `PaymentRefNum`; a receipt may have no CustomerRef (sales receipt 17).
  RefundReceipt: quickbooks-ruby refund_receipt.xml and fetch_refund_receipt_by_id.xml
  (Balance 0, PaymentMethodRef, PaymentRefNum, DepositToAccountRef "Checking").
- DepositToAccountRef: a SalesReceipt without one deposits to Undeposited Funds (the
  sandbox receipts above; Intuit's SalesReceipt reference says the same); a
  RefundReceipt must name one (2020; Intuit's RefundReceipt reference: required, an
  account "where Account.AccountType=Bank or Other Current Asset"). Either must be a
  Bank or Other Current Asset account (6000 otherwise; the code and text UNCONFIRMED),
  active (610) and existing (2500).
- Account balances: the emulator keeps no running balance per account (its accounts'
  CurrentBalance stays as seeded), so a refund does not reduce its account's balance
  here, as payments and sales receipts do not raise theirs.
- Void: the record stays with its amounts zeroed and "Voided" prepended to PrivateNote,
  SyncToken + 1, as for an invoice. A SalesReceipt is voided with
  `operation=update&include=void` (intuit/QuickBooks-V3-PHP-SDK special-cases Payment
  and SalesReceipt, qbo-facts §4; node-quickbooks issue #43 quoting Intuit's page) and
  also with `operation=void` (what python-quickbooks' VoidMixin sends for it;
  UNCONFIRMED that QBO accepts it). quickbooks-ruby sales_receipt_void_success_response.xml
  shows "Voided" in PrivateNote but keeps the amounts and SyncToken 0; it is hand-edited
  (two SalesReceipt elements under IntuitResponse, invalid against the XSD per the
  reference baseline), so the zeroing follows the recorded invoice void instead
  (UNCONFIRMED for receipts). RefundReceipt void (`operation=void`) is UNCONFIRMED
  altogether: python-quickbooks gives RefundReceipt delete only.
- Delete: `operation=delete`, the `status: Deleted` stub (refund_receipt_change.xml).
"""

from __future__ import annotations

from decimal import Decimal

from app.emulator import faults
from app.emulator.rules import (
    Json,
    WriteContext,
    bump,
    check_length,
    deleted,
    optional_ref,
    passthrough,
    resolve_ref,
    undeposited_funds,
)
from app.emulator.sales_forms import FORM_HANDLED, book_form, form_record, void_amounts

HANDLED = FORM_HANDLED | frozenset({"DepositToAccountRef", "PaymentMethodRef"})
DEPOSIT_ACCOUNT_TYPES = frozenset({"Bank", "Other Current Asset"})


def _deposit_account(ctx: WriteContext, data: Json, *, required: bool) -> Json:
    ref = data.get("DepositToAccountRef")
    if ref is None:
        if required:
            raise faults.required_param("DepositToAccountRef")
        return undeposited_funds(ctx.company)
    account = resolve_ref(ctx.company, "Account", ref, "DepositToAccountRef")
    if account.get("AccountType") not in DEPOSIT_ACCOUNT_TYPES:
        raise faults.business_validation(
            "DepositToAccountRef must be a Bank or Other Current Asset account."
        )
    return account


def _build_receipt(
    ctx: WriteContext, entity: str, data: Json, existing: Json | None, form: str
) -> Json:
    needs_customer = entity == "RefundReceipt"
    booked = book_form(ctx, entity, data, existing, needs_customer=needs_customer, form=form)
    deposit = _deposit_account(ctx, data, required=entity == "RefundReceipt")
    method = optional_ref(
        ctx.company, "PaymentMethod", data, "PaymentMethodRef", "PaymentMethodRef"
    )
    check_length("PaymentRefNum", data.get("PaymentRefNum"), 21)
    record = form_record(ctx, booked, data, existing, lead={}, balance=Decimal(0))
    if method is not None:
        record["PaymentMethodRef"] = method
    if data.get("PaymentRefNum") not in (None, ""):
        record["PaymentRefNum"] = str(data["PaymentRefNum"])
    record["DepositToAccountRef"] = {"value": deposit["Id"], "name": deposit["Name"]}
    passthrough(record, data, HANDLED)
    return record


def build_sales_receipt(ctx: WriteContext, data: Json, existing: Json | None) -> Json:
    """Validate a sales receipt and build the stored record (see the module docstring).

    Raises what an invoice's lines and header raise (see `book_form`; CustomerRef is
    optional), 2500/610/6000 for DepositToAccountRef, 2500/610 for PaymentMethodRef, 2050
    for PaymentRefNum (21 characters, as on a payment).
    """
    return _build_receipt(ctx, "SalesReceipt", data, existing, "a sales receipt")


def build_refund_receipt(ctx: WriteContext, data: Json, existing: Json | None) -> Json:
    """Validate a refund receipt and build the stored record (see the module docstring);
    as a sales receipt, but CustomerRef and DepositToAccountRef are required (2020)."""
    return _build_receipt(ctx, "RefundReceipt", data, existing, "a refund receipt")


def void_receipt(ctx: WriteContext, entity: str, receipt: Json) -> Json:
    """Void in place: amounts to zero, "Voided" prepended to PrivateNote, SyncToken + 1."""
    void_amounts(receipt)
    bump(receipt, ctx.stamp)
    ctx.company.put(entity, receipt, operation="Void")
    return receipt


def delete_receipt(ctx: WriteContext, entity: str, receipt: Json) -> Json:
    """Delete (tombstone kept for CDC); answers QBO's `status: Deleted` stub."""
    return deleted(ctx, entity, receipt)
