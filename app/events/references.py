"""How an event's payload refers to other records, as SQL conditions on `events` (or an
alias of it): which invoices, payments and sub-customers name a customer, which invoices
carry an item,
which payments are applied to an invoice. The sync engine orders events by them
(app.sync.blockers); drift asks which writes in flight may have changed a record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, or_

# How an event (of `events` or an alias) refers to a record's external id: one of these.
Refers = Callable[[Any, str], ColumnElement[bool]]


def names_customer(events: Any, external_id: str) -> ColumnElement[bool]:
    """An invoice or payment of the customer `external_id`, or a sub-customer of it."""
    data = events.payload["data"]
    return or_(
        data["customer_external_id"].astext == external_id,
        names_parent(events, external_id),
    )


def names_parent(events: Any, external_id: str) -> ColumnElement[bool]:
    """A sub-customer of the customer `external_id` (its `parent_external_id`)."""
    return events.payload["data"]["parent_external_id"].astext == external_id  # type: ignore[no-any-return]


def has_item(events: Any, external_id: str) -> ColumnElement[bool]:
    """An invoice with a line of the item `external_id`."""
    return events.payload["data"]["lines"].contains([{"item_external_id": external_id}])  # type: ignore[no-any-return]


def applied_to(events: Any, external_id: str) -> ColumnElement[bool]:
    """A payment applied to the invoice `external_id`."""
    return events.payload["data"]["applied_to"].contains(  # type: ignore[no-any-return]
        [{"invoice_external_id": external_id}]
    )


def applies_or_refunds_credit(events: Any, external_id: str) -> ColumnElement[bool]:
    """The applied credit of the credit memo `external_id` (its external id is the credit
    memo's), or a refund of it."""
    return or_(
        events.external_id == external_id,
        events.payload["data"]["refunds_credit_memo"].astext == external_id,
    )


def refunds_payment(events: Any, external_id: str) -> ColumnElement[bool]:
    """A refund of the payment `external_id`."""
    return events.payload["data"]["refunds_payment"].astext == external_id  # type: ignore[no-any-return]
