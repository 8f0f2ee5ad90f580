"""Adoption: a create whose earlier answer was lost first looks for the record (marker,
DisplayName, DocNumber) and adopts it; a name QBO already holds (6240) is adopted or
disambiguated by policy. A QBO record that another record of the company holds, or is
creating, is never adopted (DESIGN invariant 9)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from app.core.failures import Category
from app.qbo import QboError, ReadPurpose
from app.sync.payloads import (
    clean_name,
    disambiguated_name,
    has_marker,
    marked_ids,
    query_literal,
    sparse_update,
)
from app.sync.payloads.text import DISPLAY_NAME_MAX, NAME_MAX
from app.sync.realm import RealmApi
from app.sync.work import Applied, Json, Target, Work, log_fields, sparse, write_at_token

# The Applier's log lines keep the logger name they have always had.
logger = logging.getLogger("app.sync.apply")

# Names tried after a 6240 before the event dies: "Acme (c1)", "Acme (c1) 2", ...
NAME_TRIES = 10


# Characters of quoted names one lookup query carries at most (it goes in the URL).
QUERY_NAMES_CHARS = 2000


# Entity type -> (QBO name field, event data field, QBO's maximum length). Intuit: Customer
# DisplayName <= 500, Item Name <= 100, both unique in the company (Customer, Item API
# reference pages; see qbo-facts.md section 4).
NAME_FIELDS = {
    "customer": ("DisplayName", "display_name", DISPLAY_NAME_MAX),
    "item": ("Name", "name", NAME_MAX),
}


@dataclass(frozen=True, slots=True)
class Adopter:
    """Finds and takes as ours a record QBO already holds: the answer of an earlier create
    that was lost, or the holder of a name QBO refused to give twice (6240)."""

    api: RealmApi
    # (entity type, QBO id, external id) -> whether another external id is mapped to that
    # record: a record is never adopted twice.
    mapped_elsewhere: Callable[[str, str, str], Awaitable[bool]]
    # (entity type, name, external id) -> whether another external id of the company is
    # creating a record under that name (in flight, or its answer lost): what QBO holds
    # under that name may be that record's, not yet mapped.
    creating_elsewhere: Callable[[str, str, str], Awaitable[bool]]

    async def find_created(self, work: Work, body: Json) -> Json | None:
        """The record an earlier create of this entity made, if QBO holds it: found by
        name (customers, items) or by customer and date (invoices, payments, or DocNumber),
        and recognised by our marker where the entity carries one. Items carry none (see
        `_own_record`); one another record holds or is creating is never taken."""
        kind, ext = work.entity_type, work.external_id
        if kind in NAME_FIELDS:
            field = NAME_FIELDS[kind][0]
            alternatives = [self.alternative(work, n) for n in range(1, NAME_TRIES + 1)]
            for row in await self._by_names(work.entity, field, [body[field], *alternatives]):
                if await self._own_record(work, row):
                    return row
            return None
        conditions = [f"CustomerRef = {query_literal(body['CustomerRef']['value'])}"]
        if body.get("DocNumber"):
            conditions.append(f"DocNumber = {query_literal(body['DocNumber'])}")
        else:
            conditions.append(f"TxnDate = {query_literal(body['TxnDate'])}")
        # Values are quoted by query_literal; entity names are our constants.
        where = " AND ".join(conditions)
        rows = await self.api.query(
            f"SELECT * FROM {work.entity} WHERE {where} MAXRESULTS 1000",  # noqa: S608
            purpose=ReadPurpose.EXACTLY_ONCE,
        )
        return next((r for r in rows if has_marker(r.get("PrivateNote"), kind, ext)), None)

    async def _own_record(self, work: Work, row: Json) -> bool:
        """Whether a customer or item QBO holds is this record's own earlier create, never
        one linked to, or being created by, another record of the company.

        A customer is recognised by our marker in `Notes`. Item has no free-text field to
        carry one that stays off the company's sales forms (Intuit's Item XSD: Description
        is the sales description; PurchaseDesc needs an ExpenseAccountRef, making the item
        a purchased one; Sku shows on invoices), so an item is recognised by our records
        instead: under one of its disambiguated names (they hold its external id), or under
        its plain name when QBO created it no earlier than this event arrived (an item the
        company had before cannot be the answer of one of its creates). QBO's CreateTime
        has whole seconds only; the comparison allows for that."""
        kind, ext = work.entity_type, work.external_id
        if kind == "customer":
            if not has_marker(row.get("Notes"), kind, ext):
                return False
            return not await self.mapped_elsewhere(kind, str(row["Id"]), ext)
        name = str(row.get("Name") or "").strip().casefold()
        alternatives = {self.alternative(work, n).casefold() for n in range(1, NAME_TRIES + 1)}
        if name not in alternatives:
            plain = clean_name(str(work.payload["data"]["name"]), NAME_MAX).casefold()
            if name != plain or not _created_since(row, work.received_at):
                return False
        return not await self._held_elsewhere(work, row)

    async def _by_name(self, entity: str, field: str, name: str) -> list[Json]:
        return await self._by_names(entity, field, [name])

    async def _by_names(self, entity: str, field: str, names: list[str]) -> list[Json]:
        # Inactive records hold their names too. Names are quoted by query_literal; a long
        # list goes in several queries, so that no query URL grows past a few KB.
        rows: list[Json] = []
        literals = [query_literal(n) for n in dict.fromkeys(names)]
        while literals:
            chunk = [literals.pop(0)]
            while literals and sum(map(len, chunk)) + len(literals[0]) <= QUERY_NAMES_CHARS:
                chunk.append(literals.pop(0))
            where = (
                f"{field} = {chunk[0]}" if len(chunk) == 1 else f"{field} IN ({', '.join(chunk)})"
            )
            statement = f"SELECT * FROM {entity} WHERE {where}"  # noqa: S608
            rows += await self.api.query(
                statement + " AND Active IN (true, false)", purpose=ReadPurpose.EXACTLY_ONCE
            )
        return rows

    def alternative(self, work: Work, attempt: int = 1) -> str:
        """The record's disambiguated name (the company's `display_name_template`), with a
        counter from the second attempt on."""
        _, data_field, limit = NAME_FIELDS[work.entity_type]
        return disambiguated_name(
            str(work.payload["data"][data_field]),
            work.external_id,
            work.settings.display_name_template,
            attempt=attempt,
            limit=limit,
        )

    async def name_taken(self, work: Work, body: Json, err: QboError) -> Applied:
        """Policy after 6240 on a create: adopt the holder of the name when `_adoptable`
        says it may be ours, else create under the disambiguated name, then under counted
        names ("Acme (c1) 2", ...), at most NAME_TRIES of them."""
        field = NAME_FIELDS[work.entity_type][0]
        for row in await self._by_name(work.entity, field, body[field]):
            if await self._adoptable(work, row):
                note = f"adopted the QBO {work.entity_type} of the same name"
                adopted = await self._adopt(work, row, body, note)
                if adopted is not None:
                    return adopted
        taken = err
        for attempt in range(1, NAME_TRIES + 1):
            renamed = {**body, field: self.alternative(work, attempt)}
            what = "create-renamed" if attempt == 1 else f"create-renamed-{attempt}"
            try:
                created = await self.api.write(work.entity, renamed, work.rid(what))
            except QboError as again:
                if again.category is not Category.DUPLICATE_NAME:
                    raise
                taken = again
                # An earlier try of this very write whose answer was lost?
                for row in await self._by_name(work.entity, field, renamed[field]):
                    if await self._own_record(work, row):
                        note = renamed_note(renamed[field])
                        return Applied(str(row["Id"]), str(row["SyncToken"]), note, row)
                continue
            note = renamed_note(renamed[field])
            return Applied(str(created["Id"]), str(created["SyncToken"]), note, created)
        raise taken

    async def _adoptable(self, work: Work, row: Json) -> bool:
        """Whether the record holding our name may become ours. A customer: when it carries
        our marker, or the same e-mail and no other record's marker. An item (items carry
        no marker): only when the company's `item_adopt_existing_by_name` allows it. Never
        one another external id of the company holds or is creating (`_held_elsewhere`)."""
        kind, ext = work.entity_type, work.external_id
        if kind == "customer":
            if has_marker(row.get("Notes"), kind, ext):
                return not await self.mapped_elsewhere(kind, str(row["Id"]), ext)
            email = (work.payload["data"].get("email") or "").strip().casefold()
            address = (row.get("PrimaryEmailAddr") or {}).get("Address")
            if not email or email != str(address or "").strip().casefold():
                return False
        elif not work.settings.item_adopt_existing_by_name:
            return False
        return not await self._held_elsewhere(work, row)

    async def _held_elsewhere(self, work: Work, row: Json) -> bool:
        """Whether another external id of the company holds this QBO record: mapped to it,
        or, not mapped yet, its own create (a customer carries that record's marker; an
        item, which carries none, may be one while a create of its name is in flight).
        Two records adopting one customer at once cannot both win either: the adoption
        writes at the SyncToken read, so the second is refused (5010) and re-checks."""
        kind, ext = work.entity_type, work.external_id
        if await self.mapped_elsewhere(kind, str(row["Id"]), ext):
            return True
        if kind == "customer":
            return bool(marked_ids(row.get("Notes"), kind) - {ext})
        name = str(row.get(NAME_FIELDS[kind][0]) or "")
        return await self.creating_elsewhere(kind, name, ext)

    async def _adopt(self, work: Work, row: Json, body: Json, note: str) -> Applied | None:
        """Take an existing record as ours and bring it to the event's state; None when it
        changed since it was read and is no longer adoptable (e.g. a sibling adopted it
        first: the write at the SyncToken read is refused with 5010)."""
        qbo_id, token = str(row["Id"]), str(row["SyncToken"])
        try:
            answer = await self.api.write(
                work.entity, sparse_update(body, qbo_id, token), work.rid(f"adopt:{token}")
            )
        except QboError as err:
            if err.category is not Category.STALE:
                raise
            current = await self.api.read(work.entity, qbo_id, purpose=ReadPurpose.EXACTLY_ONCE)
            if not await self._adoptable(work, current):
                return None
            target = Target(qbo_id, str(current["SyncToken"]))
            applied = await write_at_token(self.api, work, target, sparse(body), "adopt")
        else:
            applied = Applied(
                str(answer.get("Id") or qbo_id),
                str(answer.get("SyncToken") or token),
                record=answer,
            )
        logger.info(note, extra=log_fields(work))
        return dataclasses.replace(applied, note=note)


def renamed_note(name: str) -> str:
    return f"name already used in QBO; sent as {name!r}"


def _created_since(row: Json, since: datetime | None) -> bool:
    """Whether QBO's MetaData.CreateTime of `row` is not before `since` (to the second)."""
    stamp = (row.get("MetaData") or {}).get("CreateTime")
    if since is None or not stamp:
        return False
    try:
        created = datetime.fromisoformat(str(stamp))
    except ValueError:
        return False
    return created.tzinfo is not None and created >= since.replace(microsecond=0)
