"""Whether an event may go now: its parents are in QBO, and the earlier events of other
records it must follow are final; else it waits (`waiting_dependency`) or dies naming why.

A sub-customer waits for its parent customer, an invoice for its customer and items, a
payment for its customer and invoices, a
void, delete or deactivation of a record not created yet for its create (DESIGN invariant
5); a deactivation, void or delete waits for the open events that reference its record
(app.sync.blockers). A parent whose event died kills its waiting children at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.core.keys import EntityKey
from app.events import lifecycle as event_store
from app.events.lifecycle import waiting_key
from app.events.models import FINAL_STATUSES, Event, EventStatus
from app.mappings import repository as mapping_store
from app.sync.blockers import earlier_references
from app.sync.locks import lock_as_parent, lock_as_parent_of
from app.sync.outcomes import failure_reason
from app.sync.recording import record_dead, release_waiters
from app.sync.results import JobOutcome, JobResult, Step

FINAL = frozenset(FINAL_STATUSES)
# Documents of lines and a customer, as an invoice is.
SALES_FORMS = frozenset({"invoice", "credit_memo", "sales_receipt", "refund"})


def parents_of(event: Event) -> list[tuple[str, str]]:
    """The records an event's write refers to, in the order they are checked: a
    sub-customer's parent; a sales form's (invoice, credit memo, sales receipt, refund)
    customer and items, and the payment or credit memo a refund refunds; a payment's
    customer and invoices; an applied credit's customer, credit memo and invoices."""
    if event.operation != "upserted":
        return []
    data = event.payload["data"]
    if event.entity_type == "customer":
        parent = data.get("parent_external_id")
        return [("customer", str(parent))] if parent else []
    if event.entity_type not in SALES_FORMS | {"payment", "applied_credit"}:
        return []
    parents = [("customer", str(data["customer_external_id"]))]
    if event.entity_type in SALES_FORMS:
        parents += [
            ("item", str(line["item_external_id"]))
            for line in data["lines"]
            if line.get("item_external_id")
        ]
        if data.get("refunds_payment"):
            parents.append(("payment", str(data["refunds_payment"])))
        if data.get("refunds_credit_memo"):
            parents.append(("credit_memo", str(data["refunds_credit_memo"])))
        return list(dict.fromkeys(parents))
    if event.entity_type == "applied_credit":
        parents.append(("credit_memo", event.external_id))
    parents += [("invoice", str(a["invoice_external_id"])) for a in data["applied_to"]]
    return list(dict.fromkeys(parents))


async def resolve_parents(
    session: AsyncSession,
    event: Event,
    parents: list[tuple[str, str]],
    now: datetime,
    settings: Settings,
) -> tuple[dict[tuple[str, str], str], Step | None]:
    """QBO ids of the parents, or the step that makes the event wait (or die) for one."""
    refs = await mapping_store.qbo_ids_of(session, event.realm_id, parents)
    for parent in parents:
        if parent in refs:
            continue
        # Serialise with the parent's own job recording it: either we see its mapping now,
        # or it sees us waiting and releases us. No lost wake-up.
        await lock_as_parent_of(session, EntityKey(event.realm_id, *parent))
        again = await mapping_store.qbo_ids_of(session, event.realm_id, [parent])
        if parent in again:
            refs.update(again)
            continue
        return refs, await _wait_or_die(session, event, parent, now, settings)
    return refs, None


async def _wait_or_die(
    session: AsyncSession,
    event: Event,
    parent: tuple[str, str],
    now: datetime,
    settings: Settings,
) -> Step:
    """The event waits for `parent` to be created, or dies at once when the parent's
    latest event is dead (or after DEPENDENCY_TIMEOUT_MINUTES when it never arrived); a
    death releases, in the same transaction, the events that waited for this one's record,
    so that a whole chain of children dies at once, each naming its parent."""
    kind, ext = parent
    own = parent == (event.entity_type, event.external_id)
    name = f"{kind} {ext!r}"
    # Its own create: an upsert of the record before it (a later one cannot be).
    latest = await event_store.latest_event_of(
        session,
        EntityKey(event.realm_id, kind, ext),
        besides=event.id,
        upserted_until=event.occurred_at if own else None,
    )
    open_parent = latest is not None and latest.status not in FINAL
    what = f"its create ({name})" if own else name
    if latest is not None and latest.status == EventStatus.DEAD:
        message = (latest.last_error or {}).get("message") or "no reason recorded"
        reason = _dependency(f"{what} failed and was not synced: {message}", parent, latest.id)
        return await _die_with_children(session, event, reason)
    deadline = event.received_at + timedelta(minutes=settings.dependency_timeout_minutes)
    if not open_parent and deadline <= now:
        reason = _dependency(
            f"{what} did not arrive within {settings.dependency_timeout_minutes:g} minutes",
            parent,
            None,
        )
        return await _die_with_children(session, event, reason)
    # An open parent releases the event when it ends (synced or dead); the deadline is for
    # a parent that never arrives, and a late look is only a safety net.
    later = (
        deadline if deadline > now else now + timedelta(minutes=settings.dependency_timeout_minutes)
    )
    note = f"waiting for {'its create' if own else name}"
    return await _wait(session, event, parent, later, note, now)


async def wait_for_earlier(
    session: AsyncSession, event: Event, now: datetime, settings: Settings
) -> Step | None:
    """The step that makes a deactivation, void or delete wait while an earlier event that
    references its record is still open, or None when none is.

    Intuit refuses the other order: a transaction that references an inactive customer or
    item gets 610 ("Object Not Found", https://developer.intuit.com/app/developer/qbo/docs/
    develop/troubleshooting/handling-common-errors), and an invoice that payments are linked
    to cannot be deleted ("linked transactions must be unlinked first", Invoice reference,
    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice)
    nor voided (6000).
    """
    blockers = await earlier_references(session, event)
    for kind, ext in dict.fromkeys((b.entity_type, b.external_id) for b in blockers):
        # As in resolve_parents: with the blocker's lock held, either its last event is seen
        # ended now, or its job sees this one waiting and releases it.
        await lock_as_parent_of(session, EntityKey(event.realm_id, kind, ext))
        still = await earlier_references(session, event, (kind, ext))
        if still:
            first = still[0]
            note = (
                f"waiting for event {first.id} ({first.entity_type}.{first.operation} of "
                f"{kind} {ext!r}), which comes first and is not final yet"
            )
            later = now + timedelta(minutes=settings.dependency_timeout_minutes)
            return await _wait(session, event, (kind, ext), later, note, now)
    return None


async def _wait(
    session: AsyncSession,
    event: Event,
    parent: tuple[str, str],
    later: datetime,
    note: str,
    now: datetime,
) -> Step:
    """Park the event (and the record's events behind it) until `parent` is released."""
    await event_store.park_waiting(session, event, waiting_key(*parent), later, note, now)
    return Step(done=JobResult(JobOutcome.WAITING_DEPENDENCY))


async def _die_with_children(session: AsyncSession, event: Event, reason: dict[str, Any]) -> Step:
    await lock_as_parent(session, event)
    await record_dead(session, event, reason)
    return Step(continue_now=True, released=await release_waiters(session, event))


def _dependency(
    message: str, parent: tuple[str, str], parent_event: uuid.UUID | None
) -> dict[str, Any]:
    """A `dependency` reason naming the parent record (`parent`, as `waiting_for` names
    it) and its dead event: a retry of that record's event sends this one back too."""
    reason = failure_reason("dependency", message)
    reason["parent"] = waiting_key(*parent)
    if parent_event is not None:
        reason["parent_event_id"] = str(parent_event)
    return reason
