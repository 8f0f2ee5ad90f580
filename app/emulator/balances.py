"""Derived amounts kept in step: what payments apply to an invoice or a credit memo (its
Balance, a credit memo's RemainingCredit, the links it shows), a customer's open Balance,
and `books_problems`, the check that all of them agree."""

from __future__ import annotations

from decimal import Decimal

from app.emulator.company import Company
from app.emulator.jsonio import money
from app.emulator.rules import Json, bump, ref_value

# What a payment line may apply: money to an invoice, or a credit memo's credit.
APPLIED_TYPES = ("Invoice", "CreditMemo")


def applied_to(
    company: Company, txn_type: str, txn_id: str, skip_payment: str | None = None
) -> Decimal:
    """Total that payment lines (except those of `skip_payment`) apply to one invoice or
    credit memo (`txn_type`)."""
    total = Decimal(0)
    for payment_id, payment in company.table("Payment").items():
        if payment_id == skip_payment:
            continue
        for line in payment.get("Line", []):
            for link in line.get("LinkedTxn", []):
                if link.get("TxnType") == txn_type and link.get("TxnId") == txn_id:
                    total += line.get("Amount", Decimal(0))
    return total


def payment_links(company: Company, txn_type: str, txn_id: str) -> list[Json]:
    """LinkedTxn entries an invoice (or credit memo) shows for the payments applied to it.
    That a credit memo shows the payment that applies it, as an invoice does, is
    UNCONFIRMED."""
    links: list[Json] = []
    for payment_id, payment in company.table("Payment").items():
        for line in payment.get("Line", []):
            if line.get("Amount", Decimal(0)) == 0:
                continue
            if any(
                link.get("TxnType") == txn_type and link.get("TxnId") == txn_id
                for link in line.get("LinkedTxn", [])
            ):
                links.append({"TxnId": payment_id, "TxnType": "Payment"})
                break
    return links


def refresh_applied(company: Company, txn_type: str, txn_id: str, stamp: str) -> None:
    """Recompute an invoice's or credit memo's Balance (a credit memo's RemainingCredit
    too) and payment links; a change bumps its SyncToken, as QBO does when a payment is
    applied to an invoice (so an old SyncToken then gets 5010; for a credit memo
    UNCONFIRMED).

    A credit memo's RemainingCredit is "the total credit amount still available to apply
    towards the payment" (XSD CreditMemo.RemainingCredit): TotalAmt less what payments
    apply. Its Balance equals it (recorded unapplied: fetch_credit_memo.xml has Balance
    and RemainingCredit both 10.00, TotalAmt 10.00; that Balance follows an application
    is UNCONFIRMED).
    """
    record = company.get(txn_type, txn_id)
    if record is None:
        return
    balance = money(record["TotalAmt"] - applied_to(company, txn_type, txn_id))
    links = payment_links(company, txn_type, txn_id)
    if balance == record["Balance"] and links == record.get("LinkedTxn", []):
        return
    record["Balance"] = balance
    if txn_type == "CreditMemo":
        record["RemainingCredit"] = balance
    if "ExchangeRate" in record:
        rate = Decimal(str(record["ExchangeRate"]))
        record["HomeBalance"] = money((balance * rate).quantize(Decimal("0.01")))
    record["LinkedTxn"] = links
    bump(record, stamp)
    company.put(txn_type, record)


def refresh_customer(company: Company, customer_id: str | None, stamp: str) -> None:
    """Recompute a customer's open balance from its invoices (no SyncToken change, but
    LastUpdatedTime moves, as recorded QBO answers show). Unapplied payments and credit
    memos are not subtracted (QBO's customer balance does net them: not modelled)."""
    if customer_id is None:
        return
    customer = company.get("Customer", customer_id)
    if customer is None:
        return
    balance = Decimal(0)
    for invoice in company.table("Invoice").values():
        if ref_value(invoice.get("CustomerRef")) == customer_id:
            balance += invoice.get("Balance", Decimal(0))
    balance = money(balance)
    if balance != customer["Balance"]:
        customer["Balance"] = balance
        customer["BalanceWithJobs"] = balance
        customer["MetaData"] = {**customer["MetaData"], "LastUpdatedTime": stamp}
        company.put("Customer", customer)


def books_problems(company: Company) -> list[str]:
    """Where a company's derived amounts disagree with its transactions (empty when the
    books are consistent): every invoice's Balance = TotalAmt - what payments apply to it
    (money and credits alike), every credit memo's RemainingCredit = TotalAmt - what
    payments apply of it, and every payment's UnappliedAmt = TotalAmt - (invoice lines -
    credit memo lines). For tests and the admin API."""
    problems: list[str] = []
    for txn_type in APPLIED_TYPES:
        for record_id, record in company.table(txn_type).items():
            expected = money(record["TotalAmt"] - applied_to(company, txn_type, record_id))
            fields = ("Balance", "RemainingCredit") if txn_type == "CreditMemo" else ("Balance",)
            for name in fields:
                if record.get(name) != expected:
                    problems.append(
                        f"{txn_type} {record_id}: {name} {record.get(name)} != {expected}"
                    )
    for payment_id, payment in company.table("Payment").items():
        net = Decimal(0)
        for line in payment.get("Line", []):
            kinds = {link.get("TxnType") for link in line.get("LinkedTxn", [])}
            sign = -1 if kinds == {"CreditMemo"} else 1
            net += sign * line.get("Amount", Decimal(0))
        expected = money(payment["TotalAmt"] - net)
        if payment.get("UnappliedAmt") != expected:
            problems.append(
                f"Payment {payment_id}: UnappliedAmt {payment.get('UnappliedAmt')} != {expected}"
            )
    return problems
