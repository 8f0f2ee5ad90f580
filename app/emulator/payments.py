"""Payment: money received, applied to invoices of the same customer; delete and void."""

from __future__ import annotations

from decimal import Decimal

from app.emulator import faults
from app.emulator.balances import applied_to_invoice
from app.emulator.invoices import transaction_currency
from app.emulator.jsonio import money, plain_number
from app.emulator.rules import (
    Json,
    WriteContext,
    bump,
    check_length,
    check_properties,
    decimal_of,
    next_version,
    optional_ref,
    passthrough,
    ref_value,
    resolve_ref,
)

HANDLED = frozenset(
    {
        "CustomerRef",
        "DepositToAccountRef",
        "PaymentMethodRef",
        "TotalAmt",
        "UnappliedAmt",
        "ProcessPayment",
        "TxnDate",
        "CurrencyRef",
        "ExchangeRate",
        "LinkedTxn",
        "Line",
    }
)


def _apply_lines(
    ctx: WriteContext, data: Json, customer_id: str, own_id: str | None
) -> tuple[list[Json], Decimal]:
    lines = data.get("Line") or []
    if not isinstance(lines, list):
        raise faults.required_param("Line")
    built: list[Json] = []
    applied = Decimal(0)
    for line in lines:
        if not isinstance(line, dict):
            raise faults.required_param("Line")
        amount = decimal_of(line, "Amount", "Line.Amount")
        if amount is None:
            raise faults.required_param("Line.Amount")
        links = line.get("LinkedTxn") or []
        if not isinstance(links, list) or not links:
            raise faults.required_param("Line.LinkedTxn")
        out_links: list[Json] = []
        for link in links:
            if link.get("TxnType") != "Invoice":
                raise faults.business_validation(
                    f"Linking a payment to a {link.get('TxnType')} is not supported here."
                )
            txn_id = str(link.get("TxnId", ""))
            invoice = ctx.company.get("Invoice", txn_id)
            if invoice is None:
                raise faults.object_not_found(transaction=True)
            if ref_value(invoice.get("CustomerRef")) != customer_id:
                raise faults.txn_cannot_be_linked()
            open_balance = invoice["TotalAmt"] - applied_to_invoice(
                ctx.company, txn_id, skip_payment=own_id
            )
            if amount > open_balance:
                raise faults.business_validation(
                    f"The payment amount applied to invoice {txn_id} is more than its "
                    f"open balance of {money(open_balance)}."
                )
            out_links.append({"TxnId": txn_id, "TxnType": "Invoice"})
        applied += amount
        built.append({"Amount": money(amount), "LinkedTxn": out_links})
    return built, applied


def build_payment(ctx: WriteContext, data: Json, existing: Json | None) -> Json:
    """Validate a payment as QBO would and build the stored record.

    Raises 2010, 2020 (CustomerRef, TotalAmt), 2500/610 (customer, deposit account,
    payment method: missing or inactive), 610 (linked invoice missing), 620 (invoice of
    another customer), 6000 (over-applied). Without DepositToAccountRef the money goes to
    Undeposited Funds; both references are stored and read back.
    """
    check_properties("Payment", data)
    if data.get("CustomerRef") is None:
        raise faults.required_param("CustomerRef")
    customer = resolve_ref(ctx.company, "Customer", data["CustomerRef"], "CustomerRef")
    total = decimal_of(data, "TotalAmt")
    if total is None:
        raise faults.required_param("TotalAmt")
    own_id = existing["Id"] if existing else None
    lines, applied = _apply_lines(ctx, data, customer["Id"], own_id)
    if applied > total:
        raise faults.business_validation(
            "The amount applied to transactions is more than the payment amount."
        )
    check_length("PaymentRefNum", data.get("PaymentRefNum"), 21)
    if data.get("DepositToAccountRef") is not None:
        deposit = resolve_ref(
            ctx.company, "Account", data["DepositToAccountRef"], "DepositToAccountRef"
        )
    else:
        deposit = next(
            a
            for a in ctx.company.table("Account").values()
            if a["AccountSubType"] == "UndepositedFunds"
        )
    method = optional_ref(
        ctx.company, "PaymentMethod", data, "PaymentMethodRef", "PaymentMethodRef"
    )
    sync_token, meta = next_version(existing, ctx.stamp)
    currency, rate = transaction_currency(ctx, data, customer)  # same rules as invoices
    record: Json = {
        "CustomerRef": {"value": customer["Id"], "name": customer["DisplayName"]},
        "DepositToAccountRef": {"value": deposit["Id"]},
        **({"PaymentMethodRef": method} if method is not None else {}),
        "TotalAmt": money(total),
        "UnappliedAmt": money(total - applied),
        "ProcessPayment": False,
        "domain": "QBO",
        "sparse": False,
        "Id": own_id or ctx.company.new_id("Payment"),
        "SyncToken": sync_token,
        "MetaData": meta,
        "TxnDate": str(data.get("TxnDate") or ctx.today.isoformat()),
        "CurrencyRef": currency,
        **({"ExchangeRate": plain_number(rate)} if rate is not None else {}),
        "LinkedTxn": [],
        "Line": lines,
    }
    passthrough(record, data, HANDLED)
    return record


def void_payment(ctx: WriteContext, payment: Json) -> Json:
    """Void in place (QBO's `operation=update&include=void`): amounts to zero, "Voided"
    prepended to PrivateNote, SyncToken + 1. Applied invoices reopen."""
    for line in payment.get("Line", []):
        line["Amount"] = Decimal(0)
    payment["TotalAmt"] = Decimal(0)
    payment["UnappliedAmt"] = Decimal(0)
    note = payment.get("PrivateNote")
    payment["PrivateNote"] = f"Voided - {note}" if note else "Voided"
    bump(payment, ctx.stamp)
    ctx.company.put("Payment", payment, operation="Void")
    return payment


def delete_payment(ctx: WriteContext, payment: Json) -> Json:
    """Delete (tombstone kept for CDC); answers QBO's `status: Deleted` stub."""
    ctx.company.remove("Payment", payment["Id"], ctx.store.now())
    return {"domain": "QBO", "status": "Deleted", "Id": payment["Id"]}


def linked_invoice_ids(payment: Json | None) -> set[str]:
    """Invoices a payment applies to (to refresh their balances after a change)."""
    ids: set[str] = set()
    for line in (payment or {}).get("Line", []):
        for link in line.get("LinkedTxn", []):
            if link.get("TxnType") == "Invoice":
                ids.add(str(link.get("TxnId")))
    return ids
