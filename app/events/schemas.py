"""Intake contract: the event envelope and the typed `data` of each entity.

Validation follows QBO's own rules where they are known (lengths, forbidden DisplayName
characters, line arithmetic), so a bad event is refused at intake, not hours later by QBO.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Discriminator,
    Field,
    StrictBool,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
)

from app.events.fields import (
    CENT,
    Currency,
    Day,
    ExternalId,
    Instant,
    Name,
    NonNegativeMoney,
    PositiveMoney,
    Quantity,
    Strict,
    Text,
    _email_shape,
    _no_name_separators,
)


class Address(Strict):
    line1: Annotated[Text, StringConstraints(max_length=500)] | None = None
    line2: Annotated[Text, StringConstraints(max_length=500)] | None = None
    city: Annotated[Text, StringConstraints(max_length=255)] | None = None
    region: Annotated[Text, StringConstraints(max_length=255)] | None = Field(
        None, description="State or province code (QBO CountrySubDivisionCode)."
    )
    postal_code: Annotated[Text, StringConstraints(max_length=30)] | None = None
    country: Annotated[Text, StringConstraints(max_length=255)] | None = None


class CustomerData(Strict):
    external_id: ExternalId
    display_name: Annotated[
        Text, StringConstraints(max_length=500), AfterValidator(_no_name_separators)
    ]
    company_name: Annotated[Text, StringConstraints(max_length=100)] | None = None
    given_name: Name | None = None
    family_name: Name | None = None
    email: (
        Annotated[str, StringConstraints(max_length=100), AfterValidator(_email_shape)] | None
    ) = None
    phone: Annotated[Text, StringConstraints(max_length=30)] | None = None
    billing_address: Address | None = None
    currency: Currency | None = None
    active: StrictBool = True


class ItemData(Strict):
    external_id: ExternalId
    name: Name
    type: Literal["service", "non_inventory"] = "service"
    unit_price: NonNegativeMoney | None = None
    description: Annotated[Text, StringConstraints(max_length=4000)] | None = None
    sku: Annotated[Text, StringConstraints(max_length=100)] | None = None
    active: StrictBool = True


class InvoiceLine(Strict):
    item_external_id: ExternalId
    description: Annotated[Text, StringConstraints(max_length=4000)] | None = None
    quantity: Quantity
    unit_price: NonNegativeMoney
    amount: NonNegativeMoney
    tax_code: Annotated[Text, StringConstraints(max_length=32)] | None = Field(
        None, description="US companies: TAX or NON. Others: the company's TaxCode id."
    )
    service_date: Day | None = None

    @field_validator("amount")
    @classmethod
    def _amount_is_quantity_times_price(cls, amount: Decimal, info: ValidationInfo) -> Decimal:
        quantity, unit_price = info.data.get("quantity"), info.data.get("unit_price")
        if quantity is None or unit_price is None:
            return amount  # already reported on those fields
        expected = (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
        if amount != expected:
            raise ValueError(
                f"amount must equal quantity x unit_price ({expected}), as QBO requires"
            )
        return amount


class InvoiceData(Strict):
    external_id: ExternalId
    customer_external_id: ExternalId
    number: Annotated[Text, StringConstraints(max_length=21)] | None = Field(
        None, description="DocNumber; sent only when the company uses custom numbers."
    )
    txn_date: Day
    due_date: Day | None = None
    currency: Currency | None = None
    lines: Annotated[list[InvoiceLine], Field(min_length=1, max_length=750)]
    memo: Annotated[Text, StringConstraints(max_length=1000)] | None = None

    @field_validator("due_date")
    @classmethod
    def _due_after_issue(cls, due: date | None, info: ValidationInfo) -> date | None:
        issued = info.data.get("txn_date")
        if due is not None and issued is not None and due < issued:
            raise ValueError("due_date must not be before txn_date")
        return due

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


class PaymentApplication(Strict):
    invoice_external_id: ExternalId
    amount: PositiveMoney


class PaymentData(Strict):
    external_id: ExternalId
    customer_external_id: ExternalId
    date: Day
    total: NonNegativeMoney
    currency: Currency | None = None
    method: Annotated[Text, StringConstraints(max_length=31)] | None = None
    reference: Annotated[Text, StringConstraints(max_length=21)] | None = Field(
        None, description="The cheque or transfer number (QBO PaymentRefNum)."
    )
    applied_to: Annotated[list[PaymentApplication], Field(max_length=750)] = Field(
        default_factory=list
    )

    @field_validator("applied_to")
    @classmethod
    def _applications_fit(
        cls, applied_to: list[PaymentApplication], info: ValidationInfo
    ) -> list[PaymentApplication]:
        seen: set[str] = set()
        for app in applied_to:
            if app.invoice_external_id in seen:
                raise ValueError(f"invoice {app.invoice_external_id!r} is applied twice")
            seen.add(app.invoice_external_id)
        total = info.data.get("total")
        applied = sum((a.amount for a in applied_to), Decimal("0"))
        if total is not None and applied > total:
            raise ValueError(f"applied amounts ({applied}) exceed the payment total ({total})")
        return applied_to


class EntityRef(Strict):
    """The data of an operation that names a record and changes nothing else."""

    external_id: ExternalId


RealmId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")]
CallerEventId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Envelope(Strict):
    event_id: CallerEventId = Field(description="Your id for this event; unique per API key.")
    realm_id: RealmId = Field(description="The QBO company (realm) id.")
    occurred_at: Instant = Field(description="When it happened at the source (with offset).")


class CustomerUpserted(_Envelope):
    type: Literal["customer.upserted"]
    data: CustomerData


class CustomerDeactivated(_Envelope):
    type: Literal["customer.deactivated"]
    data: EntityRef


class ItemUpserted(_Envelope):
    type: Literal["item.upserted"]
    data: ItemData


class ItemDeactivated(_Envelope):
    type: Literal["item.deactivated"]
    data: EntityRef


class InvoiceUpserted(_Envelope):
    type: Literal["invoice.upserted"]
    data: InvoiceData


class InvoiceVoided(_Envelope):
    type: Literal["invoice.voided"]
    data: EntityRef


class InvoiceDeleted(_Envelope):
    type: Literal["invoice.deleted"]
    data: EntityRef


class PaymentUpserted(_Envelope):
    type: Literal["payment.upserted"]
    data: PaymentData


class PaymentVoided(_Envelope):
    type: Literal["payment.voided"]
    data: EntityRef


class PaymentDeleted(_Envelope):
    type: Literal["payment.deleted"]
    data: EntityRef


EVENT_MODELS: dict[str, type[_Envelope]] = {
    "customer.upserted": CustomerUpserted,
    "customer.deactivated": CustomerDeactivated,
    "item.upserted": ItemUpserted,
    "item.deactivated": ItemDeactivated,
    "invoice.upserted": InvoiceUpserted,
    "invoice.voided": InvoiceVoided,
    "invoice.deleted": InvoiceDeleted,
    "payment.upserted": PaymentUpserted,
    "payment.voided": PaymentVoided,
    "payment.deleted": PaymentDeleted,
}
EVENT_TYPES = frozenset(EVENT_MODELS)


def _event_tag(value: Any) -> str | None:
    raw = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return raw if isinstance(raw, str) and raw in EVENT_MODELS else None


EventIn = Annotated[
    Annotated[CustomerUpserted, Tag("customer.upserted")]
    | Annotated[CustomerDeactivated, Tag("customer.deactivated")]
    | Annotated[ItemUpserted, Tag("item.upserted")]
    | Annotated[ItemDeactivated, Tag("item.deactivated")]
    | Annotated[InvoiceUpserted, Tag("invoice.upserted")]
    | Annotated[InvoiceVoided, Tag("invoice.voided")]
    | Annotated[InvoiceDeleted, Tag("invoice.deleted")]
    | Annotated[PaymentUpserted, Tag("payment.upserted")]
    | Annotated[PaymentVoided, Tag("payment.voided")]
    | Annotated[PaymentDeleted, Tag("payment.deleted")],
    Discriminator(
        _event_tag,
        custom_error_type="invalid_event_type",
        custom_error_message="type must be one of: " + ", ".join(sorted(EVENT_MODELS)),
    ),
]


class BatchIn(Strict):
    events: Annotated[list[dict[str, Any]], Field(min_length=1)] = Field(
        description="Events as for POST /events; each is validated and answered on its own."
    )


class Links(BaseModel):
    self: str


class EventError(BaseModel):
    category: str = Field(
        description="throttled, transient, auth, connection, stale, duplicate_name, "
        "not_found, permanent, dependency"
    )
    message: str
    code: str | None = Field(None, description="QBO's Fault code, when QBO answered one.")
    element: str | None = Field(None, description="The field QBO named, if any.")
    intuit_tid: str | None = Field(None, description="Intuit's transaction id, for support.")
    http_status: int | None = None
    ambiguous: bool = Field(
        False,
        description="A create whose answer was lost: QBO may hold the record. The next try "
        "looks for it before creating, and re-sends with the same requestid.",
    )
    at: datetime | None = None


class EventOut(BaseModel):
    id: uuid.UUID
    source: str
    event_id: str
    realm_id: str
    type: str
    entity_type: str
    external_id: str
    status: str
    attempts: int
    occurred_at: datetime
    received_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    synced_at: datetime | None
    qbo_id: str | None
    last_error: EventError | None
    waiting_for: str | None = Field(
        None, description="`<entity type>:<external id>` this event waits for (waiting_dependency)."
    )
    note: str | None = Field(
        None, description="What happened beyond the status, e.g. adopted or renamed in QBO."
    )
    links: Links


class EventAccepted(BaseModel):
    id: uuid.UUID
    status: str
    links: Links


class BatchItemResult(BaseModel):
    index: int
    status: int = Field(
        description="The HTTP status this event would get alone: 202, 200, 409, 422."
    )
    id: uuid.UUID | None = None
    event_status: str | None = None
    links: Links | None = None
    errors: list[dict[str, str]] | None = None
    detail: str | None = None


class BatchOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItemResult]


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None
