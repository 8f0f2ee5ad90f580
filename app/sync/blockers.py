"""The earlier events a deactivation, void or delete must let go first.

Events of one record apply in order; these are the rules across records. Intuit refuses
the other order: a transaction referring to an inactive customer or item gets 610
(https://developer.intuit.com/app/developer/qbo/docs/develop/troubleshooting/handling-common-errors),
and an invoice that payments are linked to is neither deleted ("unlink any linked
transactions first", https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice)
nor voided (6000). So:

- `customer.deactivated` follows every open event of that customer's documents, and
  every open event of a sub-customer of it (QBO refuses a child of an inactive parent);
- `item.deactivated` follows every open event of a sales form (invoice, credit memo, sales
  receipt, refund) with a line of that item;
- `invoice.voided` / `invoice.deleted` follow every open event of a payment or applied
  credit applied to it;
- `credit_memo.deleted` follows its applied credit's open events (QBO keeps a
  credit memo linked to the invoices it pays until that Payment is gone) and those of
  refunds of it; `payment.voided` / `.deleted` those of refunds of the payment

when that event occurred no later than the deactivation, void or delete (`occurred_at`; a
tie counts as earlier, since only that order can succeed). An event of a void or delete
carries only an external id: which customer, item or invoice it concerns is read from the
upserts of its record. Waits only ever go from customers and items to invoices to payments,
and from a parent's deactivation to its sub-customers, which wait only for the parent's
create: they cannot form a cycle.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.events import lifecycle as event_store
from app.events.models import Event, EventStatus
from app.events.references import (
    Refers,
    applied_to,
    applies_or_refunds_credit,
    has_item,
    names_customer,
    refunds_payment,
)

OPEN = (
    EventStatus.PENDING,
    EventStatus.SYNCING,
    EventStatus.RETRYING,
    EventStatus.WAITING_DEPENDENCY,
    EventStatus.WAITING_CONNECTION,
)


SALES_FORMS = ("invoice", "credit_memo", "sales_receipt", "refund")


def _rule(event: Event) -> tuple[tuple[str, ...], Refers] | None:
    """Which records' events come first, and how they refer to the event's record."""
    if event.entity_type == "customer" and event.operation == "deactivated":
        return (*SALES_FORMS, "payment", "applied_credit", "customer"), names_customer
    if event.entity_type == "item" and event.operation == "deactivated":
        return SALES_FORMS, has_item
    if event.entity_type == "invoice" and event.operation in ("voided", "deleted"):
        return ("payment", "applied_credit"), applied_to
    if event.entity_type == "credit_memo" and event.operation == "deleted":
        # Its applied credit (unapplied first, as QBO requires) and refunds of it.
        return ("applied_credit", "refund"), applies_or_refunds_credit
    if event.entity_type == "payment" and event.operation in ("voided", "deleted"):
        return ("refund",), refunds_payment
    return None


@dataclass(frozen=True, slots=True)
class Blocker:
    id: uuid.UUID
    entity_type: str
    external_id: str
    operation: str
    occurred_at: datetime


async def earlier_references(
    session: AsyncSession, event: Event, only: tuple[str, str] | None = None
) -> list[Blocker]:
    """The open events that must be final before `event` is applied (of the record `only`,
    when given), invoices before payments, oldest first. Empty for other kinds of event."""
    rule = _rule(event)
    if rule is None:
        return []
    kinds, refers = rule
    rows = await event_store.open_events_referring(
        session, event, statuses=OPEN, kinds=kinds, refers=refers, only=only
    )
    return [Blocker(r.id, r.entity_type, r.external_id, r.operation, r.occurred_at) for r in rows]
