"""Derived amounts kept in step: an invoice's Balance and links from payments, and a
customer's open Balance."""

from __future__ import annotations

from decimal import Decimal

from app.emulator.company import Company
from app.emulator.jsonio import money
from app.emulator.rules import Json, bump, ref_value


def applied_to_invoice(
    company: Company, invoice_id: str, skip_payment: str | None = None
) -> Decimal:
    """Total that payments (except `skip_payment`) apply to an invoice."""
    total = Decimal(0)
    for payment_id, payment in company.table("Payment").items():
        if payment_id == skip_payment:
            continue
        for line in payment.get("Line", []):
            for link in line.get("LinkedTxn", []):
                if link.get("TxnType") == "Invoice" and link.get("TxnId") == invoice_id:
                    total += line.get("Amount", Decimal(0))
    return total


def payment_links(company: Company, invoice_id: str) -> list[Json]:
    """LinkedTxn entries an invoice shows for the payments applied to it."""
    links: list[Json] = []
    for payment_id, payment in company.table("Payment").items():
        for line in payment.get("Line", []):
            if line.get("Amount", Decimal(0)) == 0:
                continue
            if any(
                link.get("TxnType") == "Invoice" and link.get("TxnId") == invoice_id
                for link in line.get("LinkedTxn", [])
            ):
                links.append({"TxnId": payment_id, "TxnType": "Payment"})
                break
    return links


def refresh_invoice(company: Company, invoice_id: str, stamp: str) -> None:
    """Recompute an invoice's Balance and payment links; a change bumps its SyncToken,
    as QBO does when a payment is applied (so an old SyncToken then gets 5010)."""
    invoice = company.get("Invoice", invoice_id)
    if invoice is None:
        return
    balance = money(invoice["TotalAmt"] - applied_to_invoice(company, invoice_id))
    links = payment_links(company, invoice_id)
    if balance != invoice["Balance"] or links != invoice.get("LinkedTxn", []):
        invoice["Balance"] = balance
        if "ExchangeRate" in invoice:
            rate = Decimal(str(invoice["ExchangeRate"]))
            invoice["HomeBalance"] = money((balance * rate).quantize(Decimal("0.01")))
        invoice["LinkedTxn"] = links
        bump(invoice, stamp)
        company.put("Invoice", invoice)


def refresh_customer(company: Company, customer_id: str | None, stamp: str) -> None:
    """Recompute a customer's open balance from its invoices (no SyncToken change, but
    LastUpdatedTime moves, as recorded QBO answers show)."""
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
