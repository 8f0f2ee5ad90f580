"""Credit memos (applied to invoices), sales receipts and refunds through API, worker and
emulator, out of order, with a lost answer, a void and a delete; invoices e-mailed from QBO
once per event, and the PDF of a synced document. The books agree after each run: every
balance is its total less the payments and credits applied."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import update

from app.events.models import Event
from tests.fixtures.world import World, event_of
from tests.support.factories import (
    credit_memo_event,
    customer_event,
    invoice_event,
    item_event,
    operation_event,
    payment_event,
    refund_event,
    sales_receipt_event,
)
from tests.support.pdf_reader import check_structure, page_text

LATER = "2026-11-26T09:00:00Z"


def _one_line(amount: str) -> list[dict[str, Any]]:
    return [
        {
            "item_external_id": "item-1",
            "quantity": "1",
            "unit_price": amount,
            "amount": amount,
            "tax_code": "NON",
        }
    ]


async def _books(w: World) -> None:
    answer = await w.books.client.get(f"/admin/companies/{w.realm}/books")
    assert answer.json() == {"consistent": True, "problems": []}, answer.text


def _ours(rows: list[dict[str, Any]], marker: str) -> list[dict[str, Any]]:
    return [r for r in rows if marker in str(r.get("PrivateNote", "")).split()]


async def _deposit_account(w: World) -> str:
    accounts = await w.records("accounts")
    bank = next(a for a in accounts if a.get("AccountType") == "Bank")
    answer = await w.client.put(
        f"/connections/{w.realm}/settings",
        json={"deposit_account_id": str(bank["Id"])},
        headers=w.auth,
    )
    assert answer.status_code == 200, answer.text
    return str(bank["Id"])


async def test_a_credit_memo_applied_to_an_invoice_then_deleted(world: World) -> None:
    w = await world.connect()
    invoice = invoice_event("inv-1", "c1", data={"lines": _one_line("300.00")})
    memo = credit_memo_event(
        "cm-1",
        "c1",
        data={
            "lines": _one_line("80.00"),
            "applied_to": [{"invoice_external_id": "inv-1", "amount": "50.00"}],
        },
    )
    # The credit memo first: it waits for its customer and item, its credit for the invoice.
    counts = await w.send(memo, invoice, item_event("item-1"), customer_event("c1"))
    assert counts == {"synced": 5}, counts  # and the applied credit, a record of its own

    (booked,) = _ours(await w.records("invoices"), "qbo-sync:invoice:inv-1")
    (credit,) = _ours(await w.records("creditmemos"), "qbo-sync:credit_memo:cm-1")
    (applied,) = _ours(await w.records("payments"), "qbo-sync:applied_credit:cm-1")
    assert Decimal(str(booked["Balance"])) == Decimal("250.00")
    assert Decimal(str(credit["RemainingCredit"])) == Decimal("30.00")
    assert Decimal(str(applied["TotalAmt"])) == 0
    await _books(w)

    # More credit to the invoice: the application is updated, not made twice.
    more = credit_memo_event(
        "cm-1",
        "c1",
        data={
            "lines": _one_line("80.00"),
            "applied_to": [{"invoice_external_id": "inv-1", "amount": "80.00"}],
        },
    )
    await w.send(more)
    (booked,) = _ours(await w.records("invoices"), "qbo-sync:invoice:inv-1")
    assert Decimal(str(booked["Balance"])) == Decimal("220.00")
    assert len(_ours(await w.records("payments"), "qbo-sync:applied_credit:cm-1")) == 1

    # Deleting the credit memo unapplies its credit first (QBO refuses the other order).
    await w.send(operation_event("credit_memo.deleted", "cm-1", occurred_at=LATER))
    (booked,) = _ours(await w.records("invoices"), "qbo-sync:invoice:inv-1")
    assert Decimal(str(booked["Balance"])) == Decimal("300.00")
    assert _ours(await w.records("creditmemos"), "qbo-sync:credit_memo:cm-1") == []
    assert _ours(await w.records("payments"), "qbo-sync:applied_credit:cm-1") == []
    await _books(w)


async def test_a_credit_memo_deleted_before_its_applied_state_arrives(world: World) -> None:
    w = await world.connect()
    invoice = invoice_event("inv-1", "c1", data={"lines": _one_line("300.00")})
    await w.send(customer_event("c1"), item_event("item-1"), invoice)
    memo = credit_memo_event(
        "cm-1",
        "c1",
        data={
            "lines": _one_line("80.00"),
            "applied_to": [{"invoice_external_id": "inv-1", "amount": "50.00"}],
        },
    )
    # The delete overtakes the state it follows: the credit is still applied, then taken
    # back, before the credit memo is deleted (QBO refuses to delete it while applied).
    delete = operation_event("credit_memo.deleted", "cm-1", occurred_at=LATER)
    counts = await w.send(delete, memo)
    assert counts == {"synced": 7}, counts
    assert _ours(await w.records("creditmemos"), "qbo-sync:credit_memo:cm-1") == []
    assert _ours(await w.records("payments"), "qbo-sync:applied_credit:cm-1") == []
    (booked,) = _ours(await w.records("invoices"), "qbo-sync:invoice:inv-1")
    assert Decimal(str(booked["Balance"])) == Decimal("300.00")
    await _books(w)


async def test_a_lost_credit_memo_create_is_adopted_not_made_twice(world: World) -> None:
    w = await world.connect()
    await w.send(customer_event("c1"), item_event("item-1"))
    customer = (await w.records("customers"))[-1]
    # QBO holds the credit memo an earlier attempt made (with our marker); its answer was
    # lost, and so is QBO's memory of the requestid.
    made = await w.books.create(
        w.realm,
        "CreditMemo",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TxnDate": "2026-11-25",
            "PrivateNote": "qbo-sync:credit_memo:cm-1",
            "Line": [
                {
                    "Amount": 40,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    memo = credit_memo_event("cm-1", "c1", data={"lines": _one_line("40.00")})
    await w.post(memo)
    async with w.factory() as session:
        await session.execute(
            update(Event)
            .where(Event.event_id == memo["event_id"])
            .values(
                status="retrying",
                attempts=1,
                last_error={"category": "transient", "message": "lost", "ambiguous": True},
            )
        )
        await session.commit()
    await w.drain()
    assert len(_ours(await w.records("creditmemos"), "qbo-sync:credit_memo:cm-1")) == 1
    stored = await event_of(w.factory, str(memo["event_id"]))
    assert stored.status == "synced"
    assert stored.qbo_id == made["Id"]
    assert "adopted" in (stored.note or "")


async def test_a_sales_receipt_is_deposited_and_voided(world: World) -> None:
    w = await world.connect()
    account = await _deposit_account(w)
    receipt = sales_receipt_event("sr-1", "c1", data={"lines": _one_line("25.00")})
    assert await w.send(receipt, customer_event("c1"), item_event("item-1")) == {"synced": 3}
    (sale,) = _ours(await w.records("salesreceipts"), "qbo-sync:sales_receipt:sr-1")
    assert sale["DepositToAccountRef"]["value"] == account
    assert sale["PaymentRefNum"] == "CARD-77"
    assert Decimal(str(sale["TotalAmt"])) == Decimal("25.00")

    await w.send(operation_event("sales_receipt.voided", "sr-1", occurred_at=LATER))
    (sale,) = _ours(await w.records("salesreceipts"), "qbo-sync:sales_receipt:sr-1")
    assert Decimal(str(sale["TotalAmt"])) == 0
    await _books(w)


async def test_a_refund_of_a_payment_waits_for_it_and_is_deleted(world: World) -> None:
    w = await world.connect()
    account = await _deposit_account(w)
    refund = refund_event(
        "rf-1", "c1", data={"lines": _one_line("20.00"), "refunds_payment": "pay-1"}
    )
    invoice = invoice_event("inv-1", "c1", data={"lines": _one_line("100.00")})
    payment = payment_event(
        "pay-1",
        "c1",
        data={
            "total": "100.00",
            "method": None,
            "applied_to": [{"invoice_external_id": "inv-1", "amount": "100.00"}],
        },
    )
    payment["data"].pop("method")
    counts = await w.send(refund, payment, invoice, customer_event("c1"), item_event("item-1"))
    assert counts == {"synced": 5}, counts
    (money_back,) = _ours(await w.records("refundreceipts"), "qbo-sync:refund:rf-1")
    assert money_back["DepositToAccountRef"]["value"] == account
    assert Decimal(str(money_back["TotalAmt"])) == Decimal("20.00")

    await w.send(operation_event("refund.deleted", "rf-1", occurred_at=LATER))
    assert _ours(await w.records("refundreceipts"), "qbo-sync:refund:rf-1") == []
    await _books(w)


async def _sends(w: World) -> list[dict[str, Any]]:
    answer = await w.books.client.get(f"/admin/companies/{w.realm}/sends")
    assert answer.status_code == 200, answer.text
    sends: list[dict[str, Any]] = answer.json()["sends"]
    return sends


async def test_an_invoice_is_emailed_once_per_event_and_its_pdf_is_served(world: World) -> None:
    w = await world.connect()
    invoice = invoice_event("inv-1", "c1", data={"lines": _one_line("120.00")})
    pdf_path = f"/documents/invoice/inv-1/pdf?realm_id={w.realm}"
    assert (await w.client.get(pdf_path, headers=w.auth)).status_code == 404
    send = operation_event(
        "invoice.sent", "inv-1", data={"to": "ap@example.com"}, occurred_at=LATER
    )
    # The send arrives first: it waits for the invoice's create.
    counts = await w.send(send, invoice, customer_event("c1"), item_event("item-1"))
    assert counts == {"synced": 4}, counts
    assert len(await _sends(w)) == 1
    (booked,) = _ours(await w.records("invoices"), "qbo-sync:invoice:inv-1")
    assert booked["EmailStatus"] == "EmailSent"
    sent = await w.event(send)
    assert "EmailSent" in (sent["note"] or "")

    # The same event again is the same event: nobody is e-mailed twice.
    assert (await w.client.post("/events", json=send, headers=w.auth)).status_code == 200
    await w.drain()
    assert len(await _sends(w)) == 1
    again = operation_event("invoice.sent", "inv-1", occurred_at=LATER)
    await w.send(again)
    assert len(await _sends(w)) == 2

    answer = await w.client.get(pdf_path, headers=w.auth)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    check_structure(answer.content)
    text = " ".join(page_text(answer.content))
    assert "120.00" in text
    assert str(booked.get("DocNumber") or booked["Id"]) in text
