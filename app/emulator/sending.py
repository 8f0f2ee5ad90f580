"""Sending a sales form by e-mail (`POST .../{entity}/{id}/send[?sendTo=]`) and reading it
as a PDF (`GET .../{entity}/{id}/pdf`), for invoices, credit memos and sales receipts.

Sources, per rule:

- The call: no body, `Content-Type: application/octet-stream`, `sendTo` URL-encoded in
  the query (python-quickbooks SendMixin; qbo-facts §4: `POST /invoice/{id}/send?sendTo=`).
- The answer is the form (recorded: quickbooks-ruby invoice_send.xml and
  sales_receipt_send.xml): `EmailStatus` EmailSent, `DeliveryInfo` `{DeliveryType:
  Email, DeliveryTime}` and `BillEmail`, the SyncToken unchanged (0 in both recordings).
  LastUpdatedTime moves (UNCONFIRMED: invoice_send.xml shows it 2 s after CreateTime,
  the hand-edited sales_receipt_send.xml not at all), so CDC sees the change, and the
  webhook operation is `Emailed` (one of the operations Intuit's webhooks name,
  qbo-facts §6).
- `sendTo` replaces BillEmail.Address (Intuit's Invoice reference, "Send an invoice":
  BillEmail is updated to the address given; UNCONFIRMED from a recording) and is
  checked as an e-mail address (2210). Without `sendTo` the form's BillEmail is used;
  without either the emulator answers 2020 on BillEmail, as for EmailStatus NeedToSend
  without one (UNCONFIRMED for send).
- Which forms: Invoice (qbo-facts §4), SalesReceipt (the recording above; the copy of
  Intuit's reference in abossenbroek/qbo-mcp lists "Send Email"), CreditMemo
  (UNCONFIRMED: neither recorded nor in that copy). Others answer Fault 500 Unsupported
  Operation.
- PDF: `application/pdf` bytes (python-quickbooks QuickbooksPdfDownloadable reads
  `.../{entity}/{id}/pdf`); the emulator's document is its own (`app.emulator.pdf`), not
  QBO's template: company, form, number (DocNumber, else Id), date, customer, lines,
  total.
- Every send is kept per company (`Company.sends`: entity, Id, to, time) for tests
  (`GET /admin/companies/{realm}/sends`); nothing is mailed.
"""

from __future__ import annotations

from decimal import Decimal

from starlette.responses import Response

from app.emulator import faults
from app.emulator.pdf import render_pdf
from app.emulator.rules import Json, WriteContext, check_email, parse_id
from app.emulator.store import clone

SENDABLE = {"Invoice": "Invoice", "CreditMemo": "Credit Memo", "SalesReceipt": "Sales Receipt"}


def _form(ctx: WriteContext, entity: str | None, record_id: str, path: str) -> tuple[str, Json]:
    if entity not in SENDABLE:
        raise faults.unsupported_operation(f"Could not find resource for relative : {path}")
    record = ctx.company.get(entity, parse_id(record_id))
    if record is None:
        raise faults.object_not_found(transaction=True)
    return entity, record


def send_form(
    ctx: WriteContext, entity: str | None, record_id: str, send_to: str | None, path: str
) -> Json:
    """Record a send of the form and mark it sent (see the module docstring); answers
    `{entity: record}`. Raises 500 (not a sendable form), 2030/610 (Id), 2210, 2020."""
    name, record = _form(ctx, entity, record_id, path)
    if send_to is not None and send_to.strip():
        address = send_to.strip()
        for part in address.split(","):
            check_email("sendTo", part.strip())
        record["BillEmail"] = {"Address": address}
    bill = record.get("BillEmail")
    to = bill.get("Address") if isinstance(bill, dict) else None
    if not to:
        raise faults.required_param("BillEmail")
    record["EmailStatus"] = "EmailSent"
    record["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": ctx.stamp}
    record["MetaData"] = {**record["MetaData"], "LastUpdatedTime": ctx.stamp}
    ctx.company.put(name, record, operation="Emailed")
    ctx.company.sends.append({"entity": name, "Id": record["Id"], "to": to, "time": ctx.stamp})
    return {name: clone(record)}


def form_pdf(ctx: WriteContext, entity: str | None, record_id: str, path: str) -> Response:
    """The form as an `application/pdf` answer. Raises 500 (not such a form), 2030/610."""
    name, record = _form(ctx, entity, record_id, path)
    number = str(record.get("DocNumber") or record["Id"])
    customer = record.get("CustomerRef") or {}
    currency = (record.get("CurrencyRef") or {}).get("value", "")
    lines = [
        ctx.company.name,
        f"{SENDABLE[name]} {number}",
        f"Date: {record.get('TxnDate', '')}",
    ]
    if customer.get("name"):
        lines.append(f"Customer: {customer['name']}")
    lines.append("")
    for line in record.get("Line", []):
        if line.get("DetailType") == "SubTotalLineDetail":
            lines.append(f"Subtotal: {_amount(line.get('Amount'))}")
            continue
        detail = line.get("SalesItemLineDetail") or {}
        label = line.get("Description") or (detail.get("ItemRef") or {}).get("name") or ""
        if line.get("DetailType") == "DescriptionOnly":
            lines.append(str(label))
        else:
            lines.append(f"{label}  {_amount(line.get('Amount'))}".strip())
    tax = (record.get("TxnTaxDetail") or {}).get("TotalTax")
    if tax:
        lines.append(f"Tax: {_amount(tax)}")
    lines.append(f"Total: {_amount(record.get('TotalAmt'))} {currency}".rstrip())
    if name == "Invoice":
        lines.append(f"Balance due: {_amount(record.get('Balance'))}")
    body = render_pdf(lines, title=f"{SENDABLE[name]} {number}")
    return Response(body, media_type="application/pdf")


def _amount(value: object) -> str:
    """An amount as the document prints it: two decimals."""
    if isinstance(value, Decimal | int):
        return f"{Decimal(value):.2f}"
    return str(value if value is not None else "")
