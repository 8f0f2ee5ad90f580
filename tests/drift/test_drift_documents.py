"""The new documents in drift: our own writes of a credit memo, its applied credit (a QBO
Payment), a sales receipt and a refund come back as webhooks and are settled as ours; an
accountant's edit of a credit memo is drift of the credit memo, found by webhook."""

from __future__ import annotations

from sqlalchemy import select

from app.drift.models import UnmappedRecord
from tests.fixtures.drift import Receiver, drift_of, settle, webhooks
from tests.fixtures.world import World
from tests.support.factories import (
    credit_memo_event,
    customer_event,
    invoice_event,
    item_event,
    sales_receipt_event,
)


def _line(amount: str) -> list[dict[str, str]]:
    return [{"item_external_id": "item-1", "quantity": "1", "unit_price": amount, "amount": amount}]


async def test_our_documents_come_back_as_ours_and_an_edit_is_drift(
    hooked: tuple[World, Receiver],
) -> None:
    world, receiver = hooked
    await webhooks(world)
    memo = credit_memo_event(
        "cm-1",
        "c1",
        data={
            "lines": _line("30.00"),
            "applied_to": [{"invoice_external_id": "inv-1", "amount": "30.00"}],
        },
    )
    counts = await world.send(
        customer_event("c1"),
        item_event("item-1"),
        invoice_event("inv-1", "c1", data={"lines": _line("100.00")}),
        memo,
        sales_receipt_event("sr-1", "c1", data={"lines": _line("12.00")}),
    )
    assert counts == {"synced": 6}, counts
    await settle(world)
    # Every webhook of those writes, the applied credit's Payment included, is ours.
    assert await drift_of(world) == []
    async with world.factory() as session:
        unmapped = (await session.scalars(select(UnmappedRecord))).all()
    documents = ("Invoice", "Payment", "CreditMemo", "SalesReceipt")
    assert [(u.entity, u.qbo_id) for u in unmapped if u.entity in documents] == []

    (credit,) = [
        r for r in await world.records("creditmemos") if "cm-1" in str(r.get("PrivateNote"))
    ]
    await world.books.edit(
        world.realm, "creditmemos", str(credit["Id"]), CustomerMemo={"value": "Edited in QBO"}
    )
    await settle(world)
    if not await drift_of(world, realm_id=world.realm):
        await settle(world)  # the edit's webhook came after the first drain had looked
    [drift] = await drift_of(world, realm_id=world.realm)
    assert (drift["entity_type"], drift["external_id"], drift["kind"]) == (
        "credit_memo",
        "cm-1",
        "edited",
    )
    assert drift["changes"]["CustomerMemo.value"]["theirs"] == "Edited in QBO"
    assert [n["data"]["external_id"] for n in receiver.of_kind("drift.found")] == ["cm-1"]
