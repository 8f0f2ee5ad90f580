"""Validation shared by every entity: unknown properties, names, lengths, references,
Ids and SyncTokens. Each rule raises the QBO Fault that QBO answers with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from app.emulator import faults
from app.emulator.company import Company
from app.emulator.jsonio import to_decimal
from app.emulator.schema import KNOWN_PROPERTIES
from app.emulator.store import TRANSACTION_ENTITIES, Store

Json = dict[str, Any]
FORBIDDEN_NAME_CHARS = (":", "\t", "\n", "\r")
# Fields QBO computes or owns; a value sent for them is ignored, not stored.
SERVER_FIELDS = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse", "status"})


@dataclass
class WriteContext:
    """What a write needs besides its body: the company, the time, URL flags."""

    store: Store
    company: Company
    stamp: str
    today: date
    allow_duplicate_doc_number: bool = False


def check_properties(entity: str, body: Json) -> None:
    """Fault 2010 for the first top-level key the entity's XSD type does not define."""
    known = KNOWN_PROPERTIES[entity]
    for key in body:
        if key not in known:
            raise faults.unknown_property(entity, key, sorted(known))


def check_length(element: str, value: Any, max_len: int) -> None:
    """Fault 2050 when a string is longer than QBO allows."""
    if isinstance(value, str) and len(value) > max_len:
        raise faults.string_too_long(element, max_len, len(value))


def check_email(element: str, address: str) -> None:
    """Fault 2210 for an e-mail address QBO would not accept (no @, no dot after it)."""
    if "@" not in address or "." not in address.split("@")[-1]:
        raise faults.QboFault(
            [
                faults.FaultError(
                    "2210",
                    "Email Address does not conform to the syntax rules of RFC 822",
                    f"Email Address does not conform to the syntax rules of RFC 822: {address}",
                    element,
                )
            ]
        )


def check_name(element: str, value: Any, max_len: int) -> None:
    """Names may not hold a colon (QBO's hierarchy separator), tab or newline (2040),
    and have a maximum length (2050)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise faults.invalid_chars(element, str(value))
    if any(ch in value for ch in FORBIDDEN_NAME_CHARS):
        raise faults.invalid_chars(element, value)
    check_length(element, value, max_len)


def decimal_of(body: Json, key: str, element: str | None = None) -> Decimal | None:
    """A numeric field as Decimal, None when absent; malformed numbers fault (2010)."""
    if key not in body or body[key] is None:
        return None
    value = to_decimal(body[key])
    if value is None:
        raise faults.invalid_number(element or key, body[key])
    return value


def ref_value(ref: Any) -> str | None:
    """The `value` of a ReferenceType, tolerating a bare string."""
    if isinstance(ref, dict):
        value = ref.get("value")
        return str(value) if value not in (None, "") else None
    if isinstance(ref, str | int) and not isinstance(ref, bool):
        return str(ref)
    return None


def resolve_ref(company: Company, entity: str, ref: Any, path: str) -> Json:
    """The active record a reference points to.

    Raises 2020 when the reference has no value, 2500 when nothing has that Id,
    610 when the record is inactive.
    """
    value = ref_value(ref)
    if value is None:
        raise faults.required_param(path)
    record = company.get(entity, value)
    if record is None:
        raise faults.invalid_reference(path, value)
    if record.get("Active") is False:
        raise faults.inactive_reference()
    return record


def stored_ref(company: Company, entity: str, ref: Any, path: str, *, named: bool = True) -> Json:
    """The reference as QBO stores and answers it, after `resolve_ref`'s checks (2020,
    2500, 610): `{"value": Id, "name": FullyQualifiedName or Name}`, or only the value
    where QBO's recordings show none (`named=False`)."""
    record = resolve_ref(company, entity, ref, path)
    out: Json = {"value": record["Id"]}
    if named:
        out["name"] = record.get("FullyQualifiedName") or record.get("Name")
    return out


def optional_ref(
    company: Company, entity: str, data: Json, key: str, path: str, *, named: bool = True
) -> Json | None:
    """`stored_ref` of `data[key]` when the body names one (not null), else None."""
    if data.get(key) is None:
        return None
    return stored_ref(company, entity, data[key], path, named=named)


def parse_id(value: Any) -> str:
    """An Id as QBO accepts it (digits only); Fault 2030 otherwise."""
    text = str(value) if value is not None else ""
    if not text.isdigit():
        raise faults.invalid_id(text)
    return str(int(text))


def existing_for_write(company: Company, entity: str, body: Json) -> Json:
    """The stored record an update/delete/void addresses, after checking Id and SyncToken.

    Raises 2020 (no Id / SyncToken), 2030 (bad Id), 610 (no such record), 5010 (stale).
    """
    if body.get("Id") in (None, ""):
        raise faults.required_param("Id")
    record_id = parse_id(body["Id"])
    record = company.get(entity, record_id)
    if record is None:
        raise faults.object_not_found(entity in TRANSACTION_ENTITIES)
    if body.get("SyncToken") in (None, ""):
        raise faults.required_param("SyncToken")
    if str(body["SyncToken"]) != record["SyncToken"]:
        raise faults.stale_object()
    return record


def new_meta(stamp: str) -> Json:
    """MetaData of a record created now."""
    return {"CreateTime": stamp, "LastUpdatedTime": stamp}


def next_version(existing: Json | None, stamp: str) -> tuple[str, Json]:
    """SyncToken and MetaData for a record written now (created or updated)."""
    if existing is None:
        return "0", new_meta(stamp)
    meta = {"CreateTime": existing["MetaData"]["CreateTime"], "LastUpdatedTime": stamp}
    return str(int(existing["SyncToken"]) + 1), meta


def bump(record: Json, stamp: str) -> None:
    """Mark a stored record as changed now: SyncToken + 1, LastUpdatedTime (in place)."""
    record["SyncToken"] = str(int(record["SyncToken"]) + 1)
    record["MetaData"] = {**record["MetaData"], "LastUpdatedTime": stamp}


def merged_for_update(existing: Json, body: Json, sparse: bool) -> Json:
    """What an update asks the record to become: a sparse update keeps every field it
    does not mention; a full update keeps only what it sends."""
    if sparse:
        merged = {k: v for k, v in existing.items() if k not in SERVER_FIELDS}
        merged.update({k: v for k, v in body.items() if k not in SERVER_FIELDS})
        return merged
    return {k: v for k, v in body.items() if k not in SERVER_FIELDS}


def passthrough(record: Json, data: Json, handled: frozenset[str]) -> None:
    """Copy writable fields the entity logic does not compute itself."""
    for key, value in data.items():
        if key not in handled and key not in SERVER_FIELDS and key not in record:
            record[key] = value


def deleted(ctx: WriteContext, entity: str, record: Json) -> Json:
    """Delete a transaction (`operation=delete`; a tombstone stays for CDC) and answer
    QBO's stub `{"domain": "QBO", "status": "Deleted", "Id": ...}` (qbo_api-vcr
    delete__invoice__1)."""
    ctx.company.remove(entity, record["Id"], ctx.store.now())
    return {"domain": "QBO", "status": "Deleted", "Id": record["Id"]}


def undeposited_funds(company: Company) -> Json:
    """The seeded Undeposited Funds account, where money goes when a payment or a sales
    receipt names no DepositToAccountRef (qbo-facts §4)."""
    return next(
        a for a in company.table("Account").values() if a["AccountSubType"] == "UndepositedFunds"
    )
