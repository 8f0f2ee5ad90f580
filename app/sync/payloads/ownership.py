"""The fields of QBO records this service owns, per entity type: the one table that the
payload builders and drift both read.

A field we own is one our builders write (on every update, or on create only) or one QBO
derives from what we wrote (an invoice's `TotalAmt`). The builders may write on an update
only the fields marked `Written.UPDATE`, so that an accountant's edits to any other field
survive a stale-SyncToken retry; drift compares the `compared` paths of QBO's answer with
the same paths of a later sighting, so a change outside this table (an accountant's Title,
QBO's own Balance) is no drift. Lines are compared line by line, apart from this table
(`app.sync.owned`), and notes that carry our marker are written but never compared.

Pure data: nothing here imports the rest of the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Written(Enum):
    """When our builders send a field."""

    UPDATE = "update"  # on create and on every update
    CREATE = "create"  # on create only: QBO fixes a record's currency once set
    NEVER = "never"  # QBO derives it from what we sent (an invoice's total)


@dataclass(frozen=True, slots=True)
class OwnedField:
    """One top-level field of a QBO record and how we own it.

    `compared` are the dotted paths drift compares (empty: written but not compared);
    `numeric` ones compare as decimals, since QBO answers 150 for 150.00.
    """

    name: str
    written: Written
    compared: tuple[str, ...]
    numeric: bool = False


def _owned(
    name: str,
    *below: str,
    written: Written = Written.UPDATE,
    compared: bool = True,
    numeric: bool = False,
) -> OwnedField:
    """A field compared at `name`, or at `name.<below>` for each of `below` when given."""
    paths = tuple(f"{name}.{part}" for part in below) or (name,)
    return OwnedField(name, written, paths if compared else (), numeric)


_CURRENCY = _owned("CurrencyRef", "value", written=Written.CREATE)
_LINES = _owned("Line", compared=False)  # compared line by line in app.sync.owned
_MARKER_NOTE = _owned("PrivateNote", compared=False)  # our marker, and QBO's "Voided"
# What the company's settings choose (app.connections.settings), sent when a record is
# created: a later change of settings, or the accountant's choice in QBO, stays.
_DEPARTMENT = _owned("DepartmentRef", written=Written.CREATE, compared=False)

OWNED: dict[str, tuple[OwnedField, ...]] = {
    "customer": (
        _owned("DisplayName"),
        _owned("GivenName"),
        _owned("FamilyName"),
        _owned("CompanyName"),
        _owned("PrimaryEmailAddr", "Address"),
        _owned("PrimaryPhone", "FreeFormNumber"),
        _owned(
            "BillAddr", "Line1", "Line2", "City", "CountrySubDivisionCode", "PostalCode", "Country"
        ),
        _CURRENCY,
        _owned("Notes", compared=False),  # holds our marker
        _owned("Active"),
    ),
    "item": (
        _owned("Name"),
        _owned("Type"),
        _owned("UnitPrice", numeric=True),
        _owned("Description"),
        _owned("Sku"),
        _owned("IncomeAccountRef", written=Written.CREATE, compared=False),
        _owned("ExpenseAccountRef", written=Written.CREATE, compared=False),
        _owned("Active"),
    ),
    "invoice": (
        _owned("CustomerRef", "value"),
        _owned("TxnDate"),
        _owned("DueDate"),
        _owned("DocNumber"),
        _CURRENCY,
        _owned("CustomerMemo", "value"),
        _owned("TotalAmt", written=Written.NEVER, numeric=True),
        _LINES,
        _MARKER_NOTE,
        _owned("GlobalTaxCalculation", compared=False),
        _owned("ClassRef", written=Written.CREATE, compared=False),
        _DEPARTMENT,
    ),
    "payment": (
        _owned("CustomerRef", "value"),
        _owned("TotalAmt", numeric=True),
        _owned("TxnDate"),
        _owned("PaymentRefNum"),
        _owned("PaymentMethodRef", "value"),
        _owned("DepositToAccountRef", written=Written.CREATE, compared=False),
        _DEPARTMENT,
        _CURRENCY,
        _LINES,
        _MARKER_NOTE,
    ),
}
"""Per entity type, the fields we own, in the order drift lists their paths."""
