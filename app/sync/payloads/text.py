"""Text rules: clean names, disambiguated names, query literals, markers and requestids."""

from __future__ import annotations

import uuid

from app.config import DEFAULT_DISPLAY_NAME_TEMPLATE
from app.sync.payloads.context import PayloadError

DISPLAY_NAME_MAX = 500
NAME_MAX = 100  # GivenName, FamilyName, CompanyName, Item.Name
# QBO joins parent and child names with ':' and refuses tab and newline in names.
_NAME_REPLACEMENTS = (("\r\n", " "), ("\r", " "), ("\n", " "), ("\t", " "), (":", "-"))
ENTITY_TYPES = frozenset(
    {
        "customer",
        "item",
        "invoice",
        "payment",
        "credit_memo",
        "sales_receipt",
        "refund",
        "applied_credit",
    }
)
MARKER_PREFIX = "qbo-sync"
DEFAULT_DISAMBIGUATION = DEFAULT_DISPLAY_NAME_TEMPLATE
# Fixed namespace of our requestids; changing it would break dedupe of in-flight retries.
REQUESTID_NAMESPACE = uuid.UUID("6f1d7c2a-3b8e-5d4f-9a60-2c7e1b0d9f31")


def clean_name(value: str, limit: int = DISPLAY_NAME_MAX) -> str:
    """A name QBO accepts: colon becomes `-`, tab and newlines become a space, surrounding
    blanks are trimmed and the result is cut to `limit` characters.

    Raises PayloadError when nothing is left.
    """
    value = _replace_forbidden(value).strip()[:limit].rstrip()
    if not value:
        raise PayloadError("name is empty once forbidden characters are removed")
    return value


def _replace_forbidden(value: str) -> str:
    for bad, good in _NAME_REPLACEMENTS:
        value = value.replace(bad, good)
    return value


def fit(value: str, limit: int) -> str:
    """`value` cut to QBO's maximum length for its field."""
    return value[:limit]


def disambiguated_name(
    display_name: str,
    external_id: str,
    template: str = DEFAULT_DISAMBIGUATION,
    *,
    attempt: int = 1,
    limit: int = DISPLAY_NAME_MAX,
) -> str:
    """The name to use after a 6240 collision the policy does not resolve by adoption.

    `{display_name}` and `{external_id}` in `template` are replaced literally (no other
    format syntax). From the second `attempt` on (that name was taken too), " <attempt>" is
    appended: "Acme (cust-42)", "Acme (cust-42) 2", "Acme (cust-42) 3"... The display-name
    part is shortened so the cleaned result fits in `limit` characters (500 for a customer's
    DisplayName, 100 for an item's Name); the external id and counter are only cut when
    they alone exceed it. Raises ValueError when the template lacks `{external_id}` (the
    result would collide again) or `attempt` < 1, PayloadError when it comes out empty.
    """
    if "{external_id}" not in template:
        raise ValueError("the disambiguation template must contain {external_id}")
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    counter = f" {attempt}" if attempt > 1 else ""

    def render(name: str) -> str:
        return template.replace("{display_name}", name).replace("{external_id}", external_id)

    name = clean_name(display_name, limit)
    room = limit - len(counter) - len(_replace_forbidden(render("")))
    if "{display_name}" in template and room < len(name):
        name = name[: max(room, 0)].rstrip()
    # The counter is what makes this try differ from the one before: it is never cut.
    return clean_name(render(name), limit - len(counter)) + counter


def query_escape(value: str) -> str:
    """`value` escaped for use inside a single-quoted QBO query string: backslash first,
    then the apostrophe (`O'Brien` -> `O\\'Brien`). The quotes themselves are not added."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def query_literal(value: str) -> str:
    """A complete quoted QBO query literal: `O'Brien` -> `'O\\'Brien'`.

    Use as `f"SELECT * FROM Customer WHERE DisplayName = {query_literal(name)}"`, with
    the name exactly as sent (i.e. after `clean_name`).
    """
    return f"'{query_escape(value)}'"


def marker(entity_type: str, external_id: str) -> str:
    """Our tag for a record, written into Invoice/Payment `PrivateNote` and Customer `Notes`
    so an ambiguous create can be found again: `qbo-sync:<entity_type>:<external_id>`.

    External ids hold no whitespace, so the marker is one whitespace-separated token (QBO
    may prepend "Voided - "); test for it with `has_marker`, not a substring search, or
    `A1` would match `A10`. Raises ValueError on an unknown entity type or a blank id.
    """
    if entity_type not in ENTITY_TYPES:
        raise ValueError(f"unknown entity type {entity_type!r}")
    if not external_id or any(ch.isspace() for ch in external_id):
        raise ValueError("external id must be non-empty and hold no whitespace")
    return f"{MARKER_PREFIX}:{entity_type}:{external_id}"


PRIVATE_NOTE_MAX = 4000


def marked_note(entity_type: str, external_id: str, note: str | None) -> str:
    """A PrivateNote carrying our marker first, then (after a newline) the caller's note,
    cut so the whole fits QBO's 4000 characters: the marker stays one token of its own,
    whatever the note says (`has_marker`). Raises ValueError as `marker` does."""
    tag = marker(entity_type, external_id)
    if not note:
        return tag
    return fit(f"{tag}\n{note}", PRIVATE_NOTE_MAX)


def has_marker(text: str | None, entity_type: str, external_id: str) -> bool:
    """Whether a PrivateNote/Notes text carries exactly our marker for that record."""
    return bool(text) and marker(entity_type, external_id) in str(text).split()


def marked_ids(text: str | None, entity_type: str) -> set[str]:
    """The external ids whose `entity_type` marker a PrivateNote/Notes text carries: who,
    among the company's records, a QBO record belongs to (normally one id or none)."""
    prefix = f"{MARKER_PREFIX}:{entity_type}:"
    tokens = str(text or "").split()
    return {t[len(prefix) :] for t in tokens if t.startswith(prefix) and len(t) > len(prefix)}


def requestid(event_id: uuid.UUID, operation: str) -> str:
    """The `requestid` of one write: UUIDv5 hex (32 characters) of our event id and the
    operation, identical on every retry of that write.

    QBO replays its first answer (Faults included) for a repeated requestid, so a write
    that differs must name a different operation: e.g. `"create"`, `"update:<SyncToken>"`
    (a re-apply after 5010 carries the new SyncToken), `"void"`, `"delete"`.
    Raises ValueError on an empty operation.
    """
    if not operation:
        raise ValueError("operation must not be empty")
    return uuid.uuid5(REQUESTID_NAMESPACE, f"{event_id}/{operation}").hex
