"""What the chaos run sends, and what QBO must hold at the end: pure and seeded.

Per company: customers, items, invoices and payments, updates of customers and invoices,
voids and deletes of invoices nobody pays. Events get `occurred_at` in their logical order;
the stream then swaps neighbours (out-of-order arrivals) and repeats some (duplicate
deliveries). The expected state of each record is its newest event by `occurred_at`.
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
        lines = []
        total = Decimal(0)
        for item in rng.sample(sorted(prices), rng.randint(1, 2)):
            qty = Decimal(rng.randint(1, 4))
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
    names = sorted(totals)
    for n, ext in enumerate(names):
        roll = rng.random()
        if roll < 0.35:
            paid.add(ext)
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
            logical.append(("invoice.voided", "invoice", ext, {"external_id": ext}))
        elif roll < 0.50:
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
