"""What the chaos run sends, and what QBO must hold at the end: pure and seeded.

Per company: customers, items, invoices and payments, updates of customers and invoices,
voids and deletes of invoices nobody pays; credit memos (some applied to invoices that stay
and nobody pays, some of those applied again differently, some deleted), sales receipts
(some updated, voided or deleted) and refunds (some of a payment of the run, some of nothing;
some deleted). Events get `occurred_at` in their logical order; the stream then swaps
neighbours (out-of-order arrivals) and repeats some (duplicate deliveries). The expected
state of each record is its newest event by `occurred_at`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

BASE_TIME = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
ITEMS = 3


@dataclass
class Expected:
    """The newest state of one record as its caller sent it."""

    entity_type: str
    external_id: str
    operation: str  # upserted, voided, deleted
    data: dict[str, Any]


@dataclass
class RealmScenario:
    realm_id: str
    events: list[dict[str, Any]] = field(default_factory=list)  # in the order they are sent
    expected: dict[tuple[str, str], Expected] = field(default_factory=dict)


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _lines(
    rng: random.Random, prices: dict[str, Decimal], most: int
) -> tuple[list[dict[str, Any]], Decimal]:
    """One or two item lines of up to `most` units each, and their sum."""
    lines = []
    total = Decimal(0)
    for item in rng.sample(sorted(prices), rng.randint(1, 2)):
        qty = Decimal(rng.randint(1, most))
        amount = qty * prices[item]
        total += amount
        lines.append(
            {
                "item_external_id": item,
                "quantity": str(qty),
                "unit_price": _money(prices[item]),
                "amount": _money(amount),
            }
        )
    return lines, total


def build(realm_id: str, invoices: int, seed: int) -> RealmScenario:
    """The events of one company and their expected end state."""
    rng = random.Random(f"{seed}:{realm_id}")
    logical: list[tuple[str, str, str, dict[str, Any]]] = []  # type, entity, ext, data
    customers = max(3, invoices // 4)
    for i in range(customers):
        logical.append(
            (
                "customer.upserted",
                "customer",
                f"c{i}",
                {
                    "external_id": f"c{i}",
                    "display_name": f"Chaos {realm_id[-4:]} Customer {i}",
                    "email": f"c{i}@chaos.test",
                },
            )
        )
    prices = {}
    for i in range(ITEMS):
        prices[f"i{i}"] = Decimal(rng.choice(["40.00", "75.50", "120.00"]))
        logical.append(
            (
                "item.upserted",
                "item",
                f"i{i}",
                {
                    "external_id": f"i{i}",
                    "name": f"Chaos item {i}",
                    "unit_price": _money(prices[f"i{i}"]),
                },
            )
        )
    totals: dict[str, Decimal] = {}
    owners: dict[str, str] = {}
    for n in range(invoices):
        ext = f"inv{n}"
        customer = f"c{rng.randrange(customers)}"
        lines, total = _lines(rng, prices, 4)
        totals[ext], owners[ext] = total, customer
        data = {
            "external_id": ext,
            "customer_external_id": customer,
            "txn_date": "2026-11-25",
            "due_date": "2026-12-25",
            "memo": "first",
            "lines": lines,
        }
        logical.append(("invoice.upserted", "invoice", ext, data))
    paid: set[str] = set()
    gone: set[str] = set()
    payments: list[tuple[str, str, Decimal]] = []  # ext, customer, total
    names = sorted(totals)
    for n, ext in enumerate(names):
        roll = rng.random()
        if roll < 0.35:
            paid.add(ext)
            payments.append((f"pay{n}", owners[ext], totals[ext]))
            logical.append(
                (
                    "payment.upserted",
                    "payment",
                    f"pay{n}",
                    {
                        "external_id": f"pay{n}",
                        "customer_external_id": owners[ext],
                        "date": "2026-11-26",
                        "total": _money(totals[ext]),
                        "applied_to": [{"invoice_external_id": ext, "amount": _money(totals[ext])}],
                    },
                )
            )
        elif roll < 0.45:
            gone.add(ext)
            logical.append(("invoice.voided", "invoice", ext, {"external_id": ext}))
        elif roll < 0.50:
            gone.add(ext)
            logical.append(("invoice.deleted", "invoice", ext, {"external_id": ext}))
        elif roll < 0.70:
            updated = next(d for t, _, e, d in logical if t == "invoice.upserted" and e == ext)
            logical.append(("invoice.upserted", "invoice", ext, {**updated, "memo": "second"}))
    for i in range(customers):
        if rng.random() < 0.3:
            first = next(d for t, _, e, d in logical if t == "customer.upserted" and e == f"c{i}")
            logical.append(
                (
                    "customer.upserted",
                    "customer",
                    f"c{i}",
                    {**first, "email": f"c{i}.v2@chaos.test"},
                )
            )
    # Credit only goes to invoices that stay and nobody pays, one credit memo per invoice:
    # every application fits the invoice's balance whatever order the states arrive in.
    creditable = [ext for ext in names if ext not in paid and ext not in gone]
    rng.shuffle(creditable)
    later = documents(rng, prices, customers, creditable, owners, totals, payments, invoices)
    logical += later

    scenario = RealmScenario(realm_id)
    events = []
    for index, (type_, entity, ext, data) in enumerate(logical):
        occurred = BASE_TIME + timedelta(seconds=index)
        body = {
            "event_id": f"{realm_id}-{index}",
            "realm_id": realm_id,
            "type": type_,
            "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
            "data": data,
        }
        events.append(body)
        scenario.expected[(entity, ext)] = Expected(entity, ext, type_.split(".")[1], data)
    # Out of order: a share of events trade places with a near neighbour.
    for i in range(len(events) - 1):
        if rng.random() < 0.15:
            j = min(len(events) - 1, i + rng.randint(1, 6))
            events[i], events[j] = events[j], events[i]
    # Duplicate deliveries: some events are sent again a little later.
    stream: list[dict[str, Any]] = []
    for body in events:
        stream.append(body)
        if rng.random() < 0.05:
            stream.insert(min(len(stream), len(stream) - rng.randint(0, 3)), body)
    scenario.events = stream
    return scenario


def documents(
    rng: random.Random,
    prices: dict[str, Decimal],
    customers: int,
    creditable: list[str],
    owners: dict[str, str],
    totals: dict[str, Decimal],
    payments: list[tuple[str, str, Decimal]],
    invoices: int,
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Credit memos, sales receipts and refunds of one company, in logical order: the
    documents first, then their changes (applications changed, updates, voids, deletes).

    Half the credit memos are applied to an invoice of `creditable` (popped: each invoice
    gets one credit memo), for at most the credit memo's and the invoice's total; a quarter
    of those are applied again with another amount, or moved to a second invoice of the same
    customer. A fifth of all credit memos are deleted. Sales receipts: 15 % updated with
    other lines, 20 % voided, 15 % deleted. Refunds: half of a payment of the run (never
    more than it), 20 % deleted."""
    first: list[tuple[str, str, str, dict[str, Any]]] = []
    changes: list[tuple[str, str, str, dict[str, Any]]] = []
    for n in range(max(4, invoices // 5)):
        ext = f"cm{n}"
        lines, total = _lines(rng, prices, 2)
        customer = f"c{rng.randrange(customers)}"
        applied: list[dict[str, str]] = []
        target = creditable.pop() if creditable and rng.random() < 0.5 else None
        if target is not None:
            customer = owners[target]
            amount = min(total, totals[target]) / 2
            applied = [{"invoice_external_id": target, "amount": _money(amount)}]
        data: dict[str, Any] = {
            "external_id": ext,
            "customer_external_id": customer,
            "txn_date": "2026-11-27",
            "memo": "credit",
            "lines": lines,
            "applied_to": applied,
        }
        first.append(("credit_memo.upserted", "credit_memo", ext, data))
        if target is not None and rng.random() < 0.25:
            other = next(
                (i for i in creditable if owners[i] == customer and totals[i] >= total), None
            )
            if other is not None and rng.random() < 0.5:
                creditable.remove(other)
                moved = [{"invoice_external_id": other, "amount": _money(total)}]
            else:
                moved = [
                    {"invoice_external_id": target, "amount": _money(min(total, totals[target]))}
                ]
            changes.append(
                (
                    "credit_memo.upserted",
                    "credit_memo",
                    ext,
                    {**data, "memo": "applied again", "applied_to": moved},
                )
            )
        if rng.random() < 0.2:
            changes.append(("credit_memo.deleted", "credit_memo", ext, {"external_id": ext}))
    for n in range(max(3, invoices // 8)):
        ext = f"sr{n}"
        lines, _ = _lines(rng, prices, 3)
        data = {
            "external_id": ext,
            "customer_external_id": f"c{rng.randrange(customers)}",
            "txn_date": "2026-11-27",
            "memo": "sold",
            "reference": f"CARD-{n}",
            "lines": lines,
        }
        first.append(("sales_receipt.upserted", "sales_receipt", ext, data))
        roll = rng.random()
        if roll < 0.15:
            changed, _ = _lines(rng, prices, 3)
            changes.append(
                ("sales_receipt.upserted", "sales_receipt", ext, {**data, "lines": changed})
            )
        elif roll < 0.35:
            changes.append(("sales_receipt.voided", "sales_receipt", ext, {"external_id": ext}))
        elif roll < 0.50:
            changes.append(("sales_receipt.deleted", "sales_receipt", ext, {"external_id": ext}))
    for n in range(max(3, invoices // 8)):
        ext = f"rf{n}"
        item = rng.choice(sorted(prices))
        data = {
            "external_id": ext,
            "customer_external_id": f"c{rng.randrange(customers)}",
            "txn_date": "2026-11-28",
            "memo": "money back",
        }
        amount = prices[item]
        if payments and rng.random() < 0.5:
            payment, customer, paid = rng.choice(payments)
            amount = min(amount, paid)
            data |= {"customer_external_id": customer, "refunds_payment": payment}
        data["lines"] = [
            {
                "item_external_id": item,
                "quantity": "1",
                "unit_price": _money(amount),
                "amount": _money(amount),
            }
        ]
        first.append(("refund.upserted", "refund", ext, data))
        if rng.random() < 0.2:
            changes.append(("refund.deleted", "refund", ext, {"external_id": ext}))
    return first + changes
