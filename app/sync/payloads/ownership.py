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
# Our marker (and an invoice's private note after it), and QBO's "Voided": never compared.
_MARKER_NOTE = _owned("PrivateNote", compared=False)
# An invoice's class and department are the caller's (written on every update that names
# them, compared); where the event names none, the company's settings
# (app.connections.settings) choose them on create only: a later change of settings, or the
# accountant's choice in QBO, then stays. A payment's department is only ever the settings'.
_DEPARTMENT = _owned("DepartmentRef", "value")
_ADDRESS = ("Line1", "Line2", "City", "CountrySubDivisionCode", "PostalCode", "Country")
_EXCHANGE_RATE = _owned("ExchangeRate", numeric=True)

# What every sales form carries after its customer and dates (QBO SalesTransaction).
_SALES_FORM = (
    _owned("ShipDate"),
    _owned("DocNumber"),
    _CURRENCY,
    _EXCHANGE_RATE,
    _owned("CustomerMemo", "value"),
    _owned("ShipAddr", *_ADDRESS),
    _owned("BillEmail", "Address"),
    _owned("BillEmailCc", "Address"),
    _owned("BillEmailBcc", "Address"),
    _owned("CustomField"),
    _owned("TotalAmt", written=Written.NEVER, numeric=True),
    # The caller's tax, where it sent one; otherwise QBO's, compared as booked.
    _owned("TxnTaxDetail", "TotalTax", numeric=True),
    _owned("ApplyTaxAfterDiscount", compared=False),
    _LINES,
    _MARKER_NOTE,
    _owned("GlobalTaxCalculation", compared=False),
    _owned("ClassRef", "value"),
    _DEPARTMENT,
)
# A sale or refund paid at once: how, its reference, and the account (on create only).
_PAID_AT_ONCE = (
    _owned("PaymentRefNum"),
    _owned("PaymentMethodRef", "value"),
    _owned("DepositToAccountRef", written=Written.CREATE, compared=False),
)

OWNED: dict[str, tuple[OwnedField, ...]] = {
    "customer": (
        _owned("DisplayName"),
        _owned("GivenName"),
        _owned("FamilyName"),
        _owned("CompanyName"),
        _owned("PrimaryEmailAddr", "Address"),
        _owned("PrimaryPhone", "FreeFormNumber"),
        _owned("BillAddr", *_ADDRESS),
        _CURRENCY,
        _owned("ParentRef", "value"),
        _owned("Job"),
        _owned("Taxable"),
        _owned("TaxExemptionReasonId"),
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
        *_SALES_FORM[:4],
        _owned("SalesTermRef", "value"),
        *_SALES_FORM[4:],
    ),
    "credit_memo": (_owned("CustomerRef", "value"), _owned("TxnDate"), *_SALES_FORM),
    "sales_receipt": (
        _owned("CustomerRef", "value"),
        _owned("TxnDate"),
        *_SALES_FORM,
        *_PAID_AT_ONCE,
    ),
    "refund": (_owned("CustomerRef", "value"), _owned("TxnDate"), *_SALES_FORM, *_PAID_AT_ONCE),
    # The Payment of total 0 that spends a credit memo on invoices.
    "applied_credit": (
        _owned("CustomerRef", "value"),
        _owned("TotalAmt", numeric=True),
        _owned("TxnDate"),
        _LINES,
        _MARKER_NOTE,
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
        _EXCHANGE_RATE,
        _LINES,
        _MARKER_NOTE,
    ),
}
"""Per entity type, the fields we own, in the order drift lists their paths."""
