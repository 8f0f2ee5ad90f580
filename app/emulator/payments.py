"""Payment: money received, applied to invoices of the same customer; delete and void."""

from __future__ import annotations

from decimal import Decimal

from app.emulator import faults
from app.emulator.balances import APPLIED_TYPES, applied_to
from app.emulator.jsonio import money, plain_number
from app.emulator.rules import (
    Json,
    WriteContext,
    bump,
    check_length,
    check_properties,
    decimal_of,
    deleted,
    next_version,
    optional_ref,
    passthrough,
    ref_value,
    resolve_ref,
    undeposited_funds,
)
from app.emulator.sales_forms import transaction_currency

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
) -> tuple[list[Json], Decimal, Decimal]:
    """The payment's lines as stored, with what they apply to invoices and what they take
    from credit memos.

    A line links invoices (money applied: each invoice's Balance falls by the line's
    Amount, at most its open balance) or credit memos (credit used: each credit memo's
    RemainingCredit falls by the Amount, at most what remains). Intuit's Payment
    reference lists CreditMemo among the TxnTypes of Line.LinkedTxn (qbo-facts §4,
    [S21]); a credit is applied with a Payment of TotalAmt 0 whose invoice lines and
    credit memo lines add up to the same amount (the way Intuit's developer answers
    apply a credit memo; UNCONFIRMED from a recording). Every linked record must exist
    (610) and belong to the payment's customer (620). Over-applying an invoice or a credit
    memo is 6000 (UNCONFIRMED: QBO's code and text), as is a line linking both kinds.
    """
    lines = data.get("Line") or []
    if not isinstance(lines, list):
        raise faults.required_param("Line")
    built: list[Json] = []
    invoiced = Decimal(0)
    credited = Decimal(0)
    for line in lines:
        if not isinstance(line, dict):
            raise faults.required_param("Line")
        amount = decimal_of(line, "Amount", "Line.Amount")
        if amount is None:
            raise faults.required_param("Line.Amount")
        links = line.get("LinkedTxn") or []
        if not isinstance(links, list) or not links:
            raise faults.required_param("Line.LinkedTxn")
        kinds = {link.get("TxnType") if isinstance(link, dict) else None for link in links}
        if len(kinds) > 1:
            raise faults.business_validation(
                "A payment line applies either invoices or credit memos, not both."
            )
        out_links = [_applied_link(ctx, link, amount, customer_id, own_id) for link in links]
        if kinds == {"CreditMemo"}:
            credited += amount
        else:
            invoiced += amount
        built.append({"Amount": money(amount), "LinkedTxn": out_links})
    return built, invoiced, credited


def _applied_link(
    ctx: WriteContext, link: object, amount: Decimal, customer_id: str, own_id: str | None
) -> Json:
    """One LinkedTxn of a payment line, checked (see `_apply_lines`)."""
    txn_type = link.get("TxnType") if isinstance(link, dict) else None
    if txn_type not in APPLIED_TYPES or not isinstance(link, dict):
        raise faults.business_validation(
            f"Linking a payment to a {txn_type} is not supported here."
        )
    txn_id = str(link.get("TxnId", ""))
    record = ctx.company.get(txn_type, txn_id)
    if record is None:
        raise faults.object_not_found(transaction=True)
    if ref_value(record.get("CustomerRef")) != customer_id:
        raise faults.txn_cannot_be_linked()
    left = record["TotalAmt"] - applied_to(ctx.company, txn_type, txn_id, skip_payment=own_id)
    if amount > left:
        if txn_type == "CreditMemo":
            raise faults.business_validation(
                f"The amount applied from credit memo {txn_id} is more than its remaining "
                f"credit of {money(left)}."
            )
        raise faults.business_validation(
            f"The payment amount applied to invoice {txn_id} is more than its "
            f"open balance of {money(left)}."
        )
    return {"TxnId": txn_id, "TxnType": txn_type}


def build_payment(ctx: WriteContext, data: Json, existing: Json | None) -> Json:
    """Validate a payment as QBO would and build the stored record.

    Raises 2010, 2020 (CustomerRef, TotalAmt), 2500/610 (customer, deposit account,
    payment method: missing or inactive), 610 (linked invoice or credit memo missing),
    620 (one of another customer), 6000 (over-applied). Without DepositToAccountRef the
    money goes to Undeposited Funds; both references are stored and read back.
    UnappliedAmt = TotalAmt - (invoice lines - credit memo lines); the credit memo lines
    may not exceed the invoice lines, nor the difference TotalAmt (6000, UNCONFIRMED).
    """
    check_properties("Payment", data)
    if data.get("CustomerRef") is None:
        raise faults.required_param("CustomerRef")
    customer = resolve_ref(ctx.company, "Customer", data["CustomerRef"], "CustomerRef")
    total = decimal_of(data, "TotalAmt")
    if total is None:
        raise faults.required_param("TotalAmt")
    own_id = existing["Id"] if existing else None
    lines, invoiced, credited = _apply_lines(ctx, data, customer["Id"], own_id)
    applied = invoiced - credited
    if applied < 0:
        raise faults.business_validation(
            "The credits applied are more than the invoice amounts they are applied to."
        )
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
        deposit = undeposited_funds(ctx.company)
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
    return deleted(ctx, "Payment", payment)


def linked_txns(payment: Json | None) -> set[tuple[str, str]]:
    """(TxnType, TxnId) of the invoices and credit memos a payment applies (to refresh
    their balances after a change)."""
    found: set[tuple[str, str]] = set()
    for line in (payment or {}).get("Line", []):
        for link in line.get("LinkedTxn", []):
            if link.get("TxnType") in APPLIED_TYPES:
                found.add((str(link["TxnType"]), str(link.get("TxnId"))))
    return found
