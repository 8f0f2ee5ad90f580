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
    ConfigDict,
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
    DecimalString,
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


EmailAddress = Annotated[str, StringConstraints(max_length=100), AfterValidator(_email_shape)]
# QBO: BillEmail at most 100 characters, BillEmailCc and BillEmailBcc at most 200 (Finance.xsd).
CopyAddress = Annotated[str, StringConstraints(max_length=200), AfterValidator(_email_shape)]
# TaxExemptionReasonId of a US customer under automated sales tax (1 Federal government,
# 2 State government, ... 9 Resale, ... 15 Foreign diplomat, ...).
TAX_EXEMPTION_REASONS = range(1, 18)
ExchangeRate = Annotated[
    Decimal,
    DecimalString(
        r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,10})?$",
        "home-currency units per unit of the foreign currency, above zero",
        "1.2345",
        positive=True,
    ),
]
RefName = Annotated[Text, StringConstraints(max_length=100)]
# PrivateNote holds at most 4000 characters (QBO) and carries our marker first
# (`qbo-sync:<entity type>:<external id>`, at most 123 characters) and a newline; a void makes QBO
# prepend "Voided - ". What is left is the caller's.
PRIVATE_NOTE_ROOM = 4000 - len("qbo-sync:sales_receipt:") - 100 - 1 - len("Voided - ")


def _no_marker(value: str) -> str:
    # Our markers are how a record is recognised as ours: a caller's text must not forge one.
    if "qbo-sync:" in value:
        raise ValueError("must not contain 'qbo-sync:', which marks records as ours")
    return value


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
    parent_external_id: ExternalId | None = Field(
        None,
        description="The parent customer: this one becomes its sub-customer (QBO ParentRef, "
        "Job true) and waits for the parent's create.",
    )
    taxable: StrictBool | None = Field(
        None, description="QBO Taxable; false takes a tax_exemption_reason_id (US companies)."
    )
    tax_exemption_reason_id: int | None = Field(
        None,
        ge=TAX_EXEMPTION_REASONS.start,
        le=TAX_EXEMPTION_REASONS.stop - 1,
        strict=True,
        description="QBO TaxExemptionReasonId (1-17), only with taxable false.",
    )

    @field_validator("parent_external_id")
    @classmethod
    def _not_own_parent(cls, parent: str | None, info: ValidationInfo) -> str | None:
        if parent is not None and parent == info.data.get("external_id"):
            raise ValueError("a customer cannot be its own parent")
        return parent

    @field_validator("tax_exemption_reason_id")
    @classmethod
    def _exempt_only_untaxed(cls, reason: int | None, info: ValidationInfo) -> int | None:
        if reason is not None and info.data.get("taxable") is not False:
            raise ValueError("only with taxable false")
        return reason


class ItemData(Strict):
    external_id: ExternalId
    name: Name
    type: Literal["service", "non_inventory"] = "service"
    unit_price: NonNegativeMoney | None = None
    description: Annotated[Text, StringConstraints(max_length=4000)] | None = None
    sku: Annotated[Text, StringConstraints(max_length=100)] | None = None
    active: StrictBool = True


LINE_KIND_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required, allowed besides `kind`)
    "item": (
        frozenset({"item_external_id", "quantity", "unit_price", "amount"}),
        frozenset(
            {
                "item_external_id",
                "description",
                "quantity",
                "unit_price",
                "amount",
                "tax_code",
                "taxable",
                "tax_amount",
                "service_date",
                "class_",
            }
        ),
    ),
    "description": (frozenset({"description"}), frozenset({"description"})),
    "subtotal": (frozenset(), frozenset({"description"})),
}


def _by_kind(default: Any = None, **kwargs: Any) -> Any:
    # Validated when absent too: what a line must carry depends on its kind.
    return Field(default, validate_default=True, **kwargs)


class InvoiceLine(Strict):
    # `class` is a Python keyword: the field is `class_`, named `class` on the wire, both ways.
    model_config = ConfigDict(**Strict.model_config, serialize_by_alias=True)

    kind: Literal["item", "description", "subtotal"] = Field(
        "item",
        description="item: a sales line (the default); description: text only (QBO "
        "DescriptionOnly); subtotal: the sum of the item lines above it (SubTotalLineDetail).",
    )
    item_external_id: ExternalId | None = _by_kind(description="Required on item lines.")
    description: Annotated[Text, StringConstraints(max_length=4000)] | None = _by_kind(
        description="Required on description lines."
    )
    quantity: Quantity | None = _by_kind(description="Required on item lines.")
    unit_price: NonNegativeMoney | None = _by_kind(description="Required on item lines.")
    amount: NonNegativeMoney | None = _by_kind(
        description="Required on item lines: quantity x unit_price."
    )
    tax_code: Annotated[Text, StringConstraints(max_length=100)] | None = _by_kind(
        description="US companies: TAX or NON. Others: one of the company's TaxCodes, by Id "
        "or name (default: the company's settings' tax_code_id)."
    )
    taxable: StrictBool | None = _by_kind(
        description="US companies: whether the line is taxed (TAX or NON); instead of tax_code."
    )
    tax_amount: NonNegativeMoney | None = _by_kind(
        description="The tax the caller charged on this line, where it knows it; with the "
        "invoice's tax_total, the tax booked per rate follows it to the cent."
    )
    service_date: Day | None = _by_kind()
    class_: RefName | None = _by_kind(
        alias="class",
        description="The line's class, by Id or name, where the company tracks classes per line.",
    )

    @field_validator(*sorted(LINE_KIND_FIELDS["item"][1]))
    @classmethod
    def _fits_kind(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is None:
            return value  # already reported on kind
        required, allowed = LINE_KIND_FIELDS[kind]
        name = str(info.field_name)
        if value is None and name in required:
            raise ValueError(f"required on a line of kind {kind!r}")
        if value is not None and name not in allowed:
            raise ValueError(f"not allowed on a line of kind {kind!r}")
        return value

    @field_validator("taxable")
    @classmethod
    def _flag_or_code(cls, taxable: bool | None, info: ValidationInfo) -> bool | None:
        if taxable is not None and info.data.get("tax_code") is not None:
            raise ValueError("give taxable or tax_code, not both")
        return taxable

    @field_validator("amount")
    @classmethod
    def _amount_is_quantity_times_price(
        cls, amount: Decimal | None, info: ValidationInfo
    ) -> Decimal | None:
        quantity, unit_price = info.data.get("quantity"), info.data.get("unit_price")
        if amount is None or quantity is None or unit_price is None:
            return amount  # missing ones are reported by kind, bad ones on those fields
        expected = (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
        if amount != expected:
            raise ValueError(
                f"amount must equal quantity x unit_price ({expected}), as QBO requires"
            )
        return amount


class InvoiceEmail(Strict):
    to: EmailAddress | None = Field(None, description="QBO BillEmail: one address.")
    cc: CopyAddress | None = Field(None, description="QBO BillEmailCc.")
    bcc: CopyAddress | None = Field(None, description="QBO BillEmailBcc.")


CustomFieldValue = Annotated[str, StringConstraints(max_length=31)]
Percent = Annotated[
    Decimal,
    DecimalString(
        r"^(100(\.0{1,4})?|[0-9]{1,2}(\.[0-9]{1,4})?)$",
        "a percentage above 0, at most 100, with at most 4 decimal places",
        "10",
        positive=True,
    ),
]


class InvoiceDiscount(Strict):
    """A discount on the invoice's item lines (QBO DiscountLineDetail): an amount or a
    percentage of their sum, never both."""

    amount: PositiveMoney | None = Field(None, description="The discount in money.")
    percent: Percent | None = Field(
        None, description="The discount as a percentage of the item lines' sum."
    )
    before_tax: StrictBool = Field(
        False,
        description="Whether tax is charged on the discounted amount (QBO "
        "ApplyTaxAfterDiscount); false: tax on the amount before the discount.",
    )

    @field_validator("percent")
    @classmethod
    def _one_of(cls, percent: Decimal | None, info: ValidationInfo) -> Decimal | None:
        amount = info.data.get("amount")
        if (percent is None) == (amount is None) and "amount" in info.data:
            raise ValueError("give the discount's amount or its percent, exactly one")
        return percent


class InvoiceShipping(Strict):
    """The shipping charge of an invoice: QBO's shipping line (SHIPPING_ITEM_ID), or the
    company's shipping item where its settings name one."""

    amount: PositiveMoney
    taxable: StrictBool | None = Field(
        None, description="US companies: whether shipping is taxed (default: not)."
    )
    tax_code: Annotated[Text, StringConstraints(max_length=100)] | None = Field(
        None,
        description="Non-US companies: the TaxCode of the shipping charge, by Id or name "
        "(default: the company's settings' tax_code_id).",
    )
    tax_amount: NonNegativeMoney | None = Field(
        None, description="The tax the caller charged on shipping, where it knows it."
    )

    @field_validator("tax_code")
    @classmethod
    def _flag_or_code(cls, code: str | None, info: ValidationInfo) -> str | None:
        if code is not None and info.data.get("taxable") is not None:
            raise ValueError("give taxable or tax_code, not both")
        return code


class SalesFormData(Strict):
    """What every sales form carries (QBO SalesTransaction: Invoice, CreditMemo,
    SalesReceipt, RefundReceipt): customer, lines, tax, discount, shipping and the fields of
    a billing system."""

    model_config = ConfigDict(**Strict.model_config, serialize_by_alias=True)

    external_id: ExternalId
    customer_external_id: ExternalId
    number: Annotated[Text, StringConstraints(max_length=21)] | None = Field(
        None,
        description="DocNumber; sent only when the company uses custom numbers (or its "
        "settings say doc_number_ours). Otherwise QBO numbers the document and the synced "
        "event's note says the number was not sent.",
    )
    txn_date: Day
    ship_date: Day | None = Field(None, description="QBO ShipDate.")
    currency: Currency | None = None
    exchange_rate: ExchangeRate | None = Field(
        None,
        description="QBO ExchangeRate: home-currency units per unit of `currency`; only for a "
        "currency other than the home currency of a multicurrency company.",
    )
    lines: Annotated[list[InvoiceLine], Field(min_length=1, max_length=750)]
    discount: InvoiceDiscount | None = None
    shipping: InvoiceShipping | None = None
    tax_total: NonNegativeMoney | None = Field(
        None,
        validate_default=True,
        description="The tax the caller charged on the whole invoice. Sent to QBO as the "
        "invoice's tax (automated sales tax honours it; elsewhere spread over the rates as "
        "the caller's lines say); what QBO books is compared with it after the write.",
    )
    tax_code: Annotated[Text, StringConstraints(max_length=100)] | None = Field(
        None,
        description="US companies without automated sales tax: the sales tax code or group "
        "of the invoice (QBO TxnTaxCodeRef), by Id or name (default: the settings' "
        "tax_code_id).",
    )
    tax_inclusive: StrictBool | None = Field(
        None,
        description="Non-US companies: whether the line amounts include tax (QBO "
        "GlobalTaxCalculation TaxInclusive); default: the company's settings.",
    )
    memo: Annotated[Text, StringConstraints(max_length=1000)] | None = Field(
        None, description="The message to the customer (QBO CustomerMemo)."
    )
    private_note: (
        Annotated[Text, StringConstraints(max_length=PRIVATE_NOTE_ROOM), AfterValidator(_no_marker)]
        | None
    ) = Field(
        None,
        description="The note for the company's own eyes (QBO PrivateNote); our marker "
        "is kept after it.",
    )
    ship_to: Address | None = Field(None, description="QBO ShipAddr.")
    email: InvoiceEmail | None = None
    class_: RefName | None = Field(
        None,
        alias="class",
        description="The invoice's class, by Id or name (default: the company's settings).",
    )
    department: RefName | None = Field(
        None, description="The invoice's department (location), by Id or name."
    )
    custom_fields: Annotated[dict[RefName, CustomFieldValue], Field(max_length=3)] | None = Field(
        None,
        description="Values of the company's sales-form custom fields, by field name "
        "(QBO CustomField, at most 31 characters each).",
    )

    @field_validator("ship_date")
    @classmethod
    def _not_before_issue(cls, day: date | None, info: ValidationInfo) -> date | None:
        return _not_before(day, info)

    @field_validator("lines")
    @classmethod
    def _one_item_line(cls, lines: list[InvoiceLine]) -> list[InvoiceLine]:
        if not any(line.kind == "item" for line in lines):
            raise ValueError("an invoice needs at least one line of kind 'item'")
        return lines

    @field_validator("exchange_rate")
    @classmethod
    def _rate_with_currency(cls, rate: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if rate is not None and info.data.get("currency") is None:
            raise ValueError("exchange_rate needs the invoice's currency")
        return rate

    @field_validator("tax_total")
    @classmethod
    def _lines_add_up(cls, total: Decimal | None, info: ValidationInfo) -> Decimal | None:
        lines: list[InvoiceLine] = info.data.get("lines") or []
        shipping: InvoiceShipping | None = info.data.get("shipping")
        parts = [line.tax_amount for line in lines if line.kind == "item"]
        if shipping is not None and shipping.tax_amount is not None:
            parts.append(shipping.tax_amount)
        given = [part for part in parts if part is not None]
        if given and total is None:
            raise ValueError("required when a line or the shipping carries a tax_amount")
        if total is not None and given and len(given) == len(parts) and sum(given) != total:
            raise ValueError(f"must equal the sum of the lines' tax_amount ({sum(given)})")
        return total

    @property
    def total(self) -> Decimal:
        """The sum of the item lines: description and subtotal lines carry no amount."""
        return sum(
            (line.amount for line in self.lines if line.kind == "item" and line.amount),
            Decimal("0"),
        )


def _not_before(day: date | None, info: ValidationInfo) -> date | None:
    issued = info.data.get("txn_date")
    if day is not None and issued is not None and day < issued:
        raise ValueError(f"{info.field_name} must not be before txn_date")
    return day


class InvoiceData(SalesFormData):
    due_date: Day | None = None
    terms: RefName | None = Field(
        None, description="The name of one of the company's Terms (QBO SalesTermRef)."
    )

    @field_validator("due_date")
    @classmethod
    def _due_after_issue(cls, day: date | None, info: ValidationInfo) -> date | None:
        return _not_before(day, info)


class PaymentApplication(Strict):
    """An amount applied to one invoice, by a payment or by a credit memo's credit."""

    invoice_external_id: ExternalId
    amount: PositiveMoney


def _once_each(applied: list[PaymentApplication]) -> list[PaymentApplication]:
    seen: set[str] = set()
    for app in applied:
        if app.invoice_external_id in seen:
            raise ValueError(f"invoice {app.invoice_external_id!r} is applied twice")
        seen.add(app.invoice_external_id)
    return applied


class CreditMemoData(SalesFormData):
    """A credit note (QBO CreditMemo). `applied_to` spends its credit on invoices of the
    customer: QBO records that as a Payment of total 0 linking the credit memo and the
    invoices (the `applied_credit` of this credit memo, synced after it)."""

    applied_to: Annotated[list[PaymentApplication], Field(max_length=750)] = Field(
        default_factory=list,
        description="Invoices of the customer this credit is applied to, with the amount each;"
        " the rest stays with the customer as credit.",
    )

    @field_validator("applied_to")
    @classmethod
    def _each_invoice_once(cls, applied: list[PaymentApplication]) -> list[PaymentApplication]:
        return _once_each(applied)


class AppliedCreditData(Strict):
    """The Payment of total 0 that applies a credit memo to invoices: made by the service
    from a `credit_memo.upserted` (never sent by callers); its external id is the credit
    memo's."""

    external_id: ExternalId
    customer_external_id: ExternalId
    date: Day
    applied_to: list[PaymentApplication] = Field(default_factory=list)


class PaidSaleFields(Strict):
    """How money moved at once: method (the company's map, as for payments) and reference."""

    method: Annotated[Text, StringConstraints(max_length=31)] | None = Field(
        None, description="The caller's payment method name, as on payments."
    )
    reference: Annotated[Text, StringConstraints(max_length=21)] | None = Field(
        None, description="The card or transfer reference (QBO PaymentRefNum)."
    )


class SalesReceiptData(SalesFormData, PaidSaleFields):
    """A sale paid at once (QBO SalesReceipt), deposited to the company's
    deposit_account_id (else Undeposited Funds)."""


class RefundData(SalesFormData, PaidSaleFields):
    """Money paid back to a customer (QBO RefundReceipt) from the company's
    deposit_account_id, optionally for one of its payments or credit memos."""

    refunds_payment: ExternalId | None = Field(
        None, description="The payment this refunds (waited for, linked in QBO)."
    )
    refunds_credit_memo: ExternalId | None = Field(
        None, description="The credit memo this refunds (waited for, linked in QBO)."
    )

    @field_validator("refunds_credit_memo")
    @classmethod
    def _one_refunded(cls, memo: str | None, info: ValidationInfo) -> str | None:
        if memo is not None and info.data.get("refunds_payment") is not None:
            raise ValueError("give refunds_payment or refunds_credit_memo, not both")
        return memo


class PaymentData(Strict):
    external_id: ExternalId
    customer_external_id: ExternalId
    date: Day
    total: NonNegativeMoney
    currency: Currency | None = None
    exchange_rate: ExchangeRate | None = Field(
        None,
        description="QBO ExchangeRate: home-currency units per unit of `currency`; only for a "
        "currency other than the home currency of a multicurrency company.",
    )
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
        _once_each(applied_to)
        total = info.data.get("total")
        applied = sum((a.amount for a in applied_to), Decimal("0"))
        if total is not None and applied > total:
            raise ValueError(f"applied amounts ({applied}) exceed the payment total ({total})")
        return applied_to

    @field_validator("exchange_rate")
    @classmethod
    def _rate_with_currency(cls, rate: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if rate is not None and info.data.get("currency") is None:
            raise ValueError("exchange_rate needs the payment's currency")
        return rate


class EntityRef(Strict):
    """The data of an operation that names a record and changes nothing else."""

    external_id: ExternalId


RealmId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")]
CallerEventId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SendData(Strict):
    """Ask QBO to e-mail a synced invoice, credit memo or sales receipt (once per event)."""

    external_id: ExternalId
    to: EmailAddress | None = Field(
        None, description="The address to send to (QBO sendTo); default: the document's BillEmail."
    )


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


class CreditMemoUpserted(_Envelope):
    type: Literal["credit_memo.upserted"]
    data: CreditMemoData


class CreditMemoDeleted(_Envelope):
    type: Literal["credit_memo.deleted"]
    data: EntityRef


class SalesReceiptUpserted(_Envelope):
    type: Literal["sales_receipt.upserted"]
    data: SalesReceiptData


class SalesReceiptVoided(_Envelope):
    type: Literal["sales_receipt.voided"]
    data: EntityRef


class SalesReceiptDeleted(_Envelope):
    type: Literal["sales_receipt.deleted"]
    data: EntityRef


class RefundUpserted(_Envelope):
    type: Literal["refund.upserted"]
    data: RefundData


class RefundVoided(_Envelope):
    type: Literal["refund.voided"]
    data: EntityRef


class RefundDeleted(_Envelope):
    type: Literal["refund.deleted"]
    data: EntityRef


class InvoiceSent(_Envelope):
    type: Literal["invoice.sent"]
    data: SendData


class CreditMemoSent(_Envelope):
    type: Literal["credit_memo.sent"]
    data: SendData


class SalesReceiptSent(_Envelope):
    type: Literal["sales_receipt.sent"]
    data: SendData


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
    "credit_memo.upserted": CreditMemoUpserted,
    "credit_memo.deleted": CreditMemoDeleted,
    "sales_receipt.upserted": SalesReceiptUpserted,
    "sales_receipt.voided": SalesReceiptVoided,
    "sales_receipt.deleted": SalesReceiptDeleted,
    "refund.upserted": RefundUpserted,
    "refund.voided": RefundVoided,
    "refund.deleted": RefundDeleted,
    "invoice.sent": InvoiceSent,
    "credit_memo.sent": CreditMemoSent,
    "sales_receipt.sent": SalesReceiptSent,
}
EVENT_TYPES = frozenset(EVENT_MODELS)
# Every entity type an event may be of (an applied credit is derived from a credit memo's).
ENTITY_TYPE_NAMES = (*dict.fromkeys(t.split(".")[0] for t in EVENT_MODELS), "applied_credit")
ENTITY_TYPE_PATTERN = "^(" + "|".join(ENTITY_TYPE_NAMES) + ")$"


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
    | Annotated[PaymentDeleted, Tag("payment.deleted")]
    | Annotated[CreditMemoUpserted, Tag("credit_memo.upserted")]
    | Annotated[CreditMemoDeleted, Tag("credit_memo.deleted")]
    | Annotated[SalesReceiptUpserted, Tag("sales_receipt.upserted")]
    | Annotated[SalesReceiptVoided, Tag("sales_receipt.voided")]
    | Annotated[SalesReceiptDeleted, Tag("sales_receipt.deleted")]
    | Annotated[RefundUpserted, Tag("refund.upserted")]
    | Annotated[RefundVoided, Tag("refund.voided")]
    | Annotated[RefundDeleted, Tag("refund.deleted")]
    | Annotated[InvoiceSent, Tag("invoice.sent")]
    | Annotated[CreditMemoSent, Tag("credit_memo.sent")]
    | Annotated[SalesReceiptSent, Tag("sales_receipt.sent")],
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


class Amounts(BaseModel):
    total: Decimal
    tax: Decimal | None = Field(description="Null in `expected` when the caller sent no tax.")


class Mismatch(BaseModel):
    expected: Amounts = Field(description="What the caller's invoice adds up to.")
    booked: Amounts = Field(description="What QBO booked (TotalAmt, TxnTaxDetail.TotalTax).")
    difference: Amounts = Field(description="Booked minus expected.")
    tolerance: Decimal


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
    mismatch: Mismatch | None = Field(
        None,
        description="A synced invoice whose total or tax QBO booked otherwise than the caller"
        " sent (beyond the company's mismatch_tolerance).",
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
