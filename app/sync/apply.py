"""One event, made true in QBO: create or sparse update, deactivate, void, delete.

Every write carries a requestid derived from our event id and what is written, so a retry
of the same write is answered from Intuit's memory instead of being applied twice. A stale
SyncToken (5010) re-reads the record and re-sends our fields only (app.sync.work). A create
whose earlier answer was lost, or whose name QBO already holds (6240), goes through
app.sync.adoption.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.core.failures import Category
from app.core.times import parse_time
from app.events.schemas import (
    AppliedCreditData,
    CustomerData,
    InvoiceData,
    ItemData,
    PaymentData,
    RefundData,
    SalesFormData,
    SalesReceiptData,
)
from app.qbo import QboError
from app.sync.adoption import NAME_TRIES, Adopter, renamed_note
from app.sync.company import CompanyLookups, CompanyReader
from app.sync.owned import DATA_MODELS
from app.sync.payloads import (
    PayloadError,
    applied_credit_body,
    customer_body,
    deactivate_body,
    delete_body,
    invoice_body,
    item_body,
    number_note,
    paid_sale_body,
    payment_body,
    sales_form_body,
    sparse_update,
    void_invoice_body,
    void_payment_body,
)
from app.sync.payloads.tax import mismatch
from app.sync.realm import RealmApi
from app.sync.work import Applied, Json, Target, Work, log_fields, sparse, write_at_token

logger = logging.getLogger(__name__)

# Voided as an invoice is (`operation=void`), or else as a payment is (`operation=update
# &include=void`, a sparse update): a sales receipt as payments (Intuit's SalesReceipt
# reference, "Void a salesreceipt"), a refund receipt as invoices (UNCONFIRMED). QBO's API
# has no void of a credit memo ("not supported", Intuit's maintainer in
# QuickBooks-V3-PHP-SDK issue #133): credit memos are deleted.
VOIDED_AS_INVOICE = frozenset({"invoice", "refund"})


def with_write_note(applied: Applied, work: Work) -> Applied:
    """`applied` with what the synced event of a sales form's upsert says beyond it: a
    `number` the company numbers itself (`number_note`) added to any note, and how the
    totals QBO answered with differ from the caller's beyond the company's
    `mismatch_tolerance` (`mismatch`, app.sync.payloads.tax). Other writes as they are."""
    model = DATA_MODELS[work.entity_type]
    if work.operation != "upserted" or not issubclass(model, SalesFormData):
        return applied
    data = model.model_validate(work.payload["data"])
    assert isinstance(data, SalesFormData)
    note = number_note(data, work.context)
    if note is not None:
        applied = dataclasses.replace(
            applied, note=f"{applied.note}; {note}" if applied.note else note
        )
    record = applied.record
    if not record or "TotalAmt" not in record:
        return applied
    found = mismatch(data, work.context, record, work.settings.mismatch_tolerance)
    if found is not None:
        logger.warning(
            "QBO booked other totals than the caller's: %s",
            found["difference"],
            extra=log_fields(work),
        )
    return dataclasses.replace(applied, mismatch=found)


async def upsert_body(work: Work, lookups: CompanyLookups, reader: CompanyReader) -> Json:
    """The create body of an upsert (an update sends it as `sparse_update`), with what the
    company's lists give (income account, default tax code, terms, classes, departments,
    payment methods) looked up through `reader`. Raises PayloadError, and what `reader`
    raises."""
    data = DATA_MODELS[work.entity_type].model_validate(work.payload["data"])
    ctx = work.context
    # The company's settings' class and department go on a create only: an update
    # leaves what QBO holds (an accountant's choice, or an older setting).
    create = work.target is None
    if isinstance(data, CustomerData):
        parent = None
        if data.parent_external_id is not None:
            parent = work.refs.get(("customer", data.parent_external_id))
        return customer_body(data, ctx, parent)
    if isinstance(data, ItemData):
        income = await lookups.income_account(reader, work.settings)
        return item_body(data, income, work.settings.item_expense_account_id)
    if isinstance(data, SalesFormData):
        return await _sales_form(work, data, lookups, reader, defaults=create)
    if isinstance(data, AppliedCreditData):
        invoices = {ext: qid for (kind, ext), qid in work.refs.items() if kind == "invoice"}
        customer = work.refs[("customer", data.customer_external_id)]
        credit_memo = work.refs[("credit_memo", data.external_id)]
        return applied_credit_body(data, customer, credit_memo, invoices)
    assert isinstance(data, PaymentData)
    invoices = {ext: qid for (kind, ext), qid in work.refs.items() if kind == "invoice"}
    customer = work.refs[("customer", data.customer_external_id)]
    method = await _method(work, data.method, lookups, reader)
    return payment_body(data, ctx, customer, invoices, method, defaults=create)


async def _method(
    work: Work, method: str | None, lookups: CompanyLookups, reader: CompanyReader
) -> str | None:
    """The PaymentMethod Id of an event's `method`, or None without one. Raises
    PayloadError for a method the company has neither mapped nor named so."""
    if method is None:
        return None
    found = await lookups.payment_method(reader, work.settings, method)
    if found is None:
        raise PayloadError(
            f"payment method {method!r} is not one of the company's: map it to a"
            " PaymentMethod id in the company's settings (payment_methods)",
            field="/data/method",
        )
    return found


async def _sales_form(
    work: Work,
    data: SalesFormData,
    lookups: CompanyLookups,
    reader: CompanyReader,
    *,
    defaults: bool,
) -> Json:
    """The create body of an invoice, credit memo, sales receipt or refund."""
    ctx = work.context
    if (
        not ctx.is_us
        and ctx.default_tax_code_id is None
        and (
            any(line.kind == "item" and line.tax_code is None for line in data.lines)
            or (data.shipping is not None and data.shipping.tax_code is None)
        )
    ):
        code = await lookups.default_tax_code(reader, work.settings)
        ctx = dataclasses.replace(ctx, default_tax_code_id=code)
    items = {ext: qid for (kind, ext), qid in work.refs.items() if kind == "item"}
    customer = work.refs[("customer", data.customer_external_id)]
    names = await lookups.invoice_names(reader, data, ctx)
    if isinstance(data, InvoiceData):
        return invoice_body(data, ctx, customer, items, names, defaults=defaults)
    if isinstance(data, SalesReceiptData | RefundData):
        method = await _method(work, data.method, lookups, reader)
        linked = None
        if isinstance(data, RefundData):
            for kind, ext, txn_type in (
                ("payment", data.refunds_payment, "Payment"),
                ("credit_memo", data.refunds_credit_memo, "CreditMemo"),
            ):
                if ext is not None:
                    linked = {"TxnId": work.refs[(kind, ext)], "TxnType": txn_type}
        return paid_sale_body(
            work.entity_type, data, ctx, customer, items, names, method, linked, defaults=defaults
        )
    return sales_form_body(work.entity_type, data, ctx, customer, items, names, defaults=defaults)


def sent_note(record: Json) -> str:
    """What a synced send says: QBO's EmailStatus, to whom and when it delivered."""
    info = record.get("DeliveryInfo") if isinstance(record.get("DeliveryInfo"), dict) else {}
    to = (record.get("BillEmail") or {}).get("Address") if isinstance(record, dict) else None
    when = (info or {}).get("DeliveryTime")
    return (
        f"e-mailed by QBO: EmailStatus {record.get('EmailStatus')}"
        + (f", to {to}" if to else "")
        + (f", delivered {when}" if when else "")
    )


def delivered_since(record: Json, since: datetime | None) -> bool:
    """Whether QBO says it e-mailed the record at or after `since`."""
    info = record.get("DeliveryInfo")
    when = parse_time(info.get("DeliveryTime")) if isinstance(info, dict) else None
    sent = record.get("EmailStatus") == "EmailSent"
    return sent and when is not None and (since is None or when >= since.replace(microsecond=0))


@dataclass(frozen=True, slots=True)
class TokenWrite:
    """A deactivation, void or delete: its body at a SyncToken, what its requestid names
    (`Work.rid_at`) and the QBO operation (app.qbo's OPERATIONS)."""

    build: Callable[[str, str], Json]
    what: str
    operation: str = "save"


def token_write(work: Work) -> tuple[Target, TokenWrite]:
    """The record a deactivation, void or delete of `work` writes, and how. Raises
    PayloadError when the record has no QBO id, or for an operation it does not know."""
    if work.target is None:
        raise PayloadError(f"{work.entity_type} {work.external_id!r} has no QBO record")
    if work.operation == "deactivated":
        return work.target, TokenWrite(deactivate_body, "deactivate")
    if work.operation == "voided":
        if work.entity_type in VOIDED_AS_INVOICE:
            return work.target, TokenWrite(void_invoice_body, "void", "void_invoice")
        return work.target, TokenWrite(void_payment_body, "void", "void_payment")
    if work.operation == "deleted":
        return work.target, TokenWrite(delete_body, "delete", "delete")
    raise PayloadError(f"unknown operation {work.operation!r}")


@dataclass(frozen=True, slots=True)
class Applier:
    """Writes events of one realm to QBO (built per call by app.sync.calls); what QBO may
    already hold is found and adopted by its `adopter` (app.sync.adoption)."""

    lookups: CompanyLookups
    api: RealmApi
    # Handed to the adopter (see `Adopter` for what each answers).
    mapped_elsewhere: Callable[[str, str, str], Awaitable[bool]]
    creating_elsewhere: Callable[[str, str, str], Awaitable[bool]]
    adopter: Adopter = field(init=False)

    def __post_init__(self) -> None:
        adopter = Adopter(self.api, self.mapped_elsewhere, self.creating_elsewhere)
        object.__setattr__(self, "adopter", adopter)

    async def apply(self, work: Work) -> Applied:
        """Make `work` true in QBO. Raises QboError (classified), PayloadError (permanent)."""
        if work.operation == "upserted":
            return await self._upsert(work)
        if work.operation == "sent":
            return await self._send(work)
        target, write = token_write(work)
        applied = await write_at_token(
            self.api, work, target, write.build, write.what, write.operation
        )
        if work.operation == "deleted":
            return dataclasses.replace(applied, note="deleted in QBO")
        return applied

    async def batch_body(self, work: Work) -> tuple[str, Json] | None:
        """(`create` or `update`, body) of this write as one batch operation, or None when
        it needs more than one plain call (voids, deletes, a create whose earlier answer was
        lost). Raises PayloadError like `apply`."""
        if work.maybe_applied:
            return None
        if work.operation == "deactivated" and work.target is not None:
            target = work.target
            return "update", deactivate_body(target.qbo_id, target.sync_token)
        if work.operation != "upserted":
            return None
        body = await upsert_body(work, self.lookups, self.api)
        if work.target is None:
            return "create", body
        return "update", sparse_update(body, work.target.qbo_id, work.target.sync_token)

    def batch_rid(self, work: Work, operation: str) -> str:
        """The requestid the same write would carry alone (see `_upsert` and `write_at_token`)."""
        if operation == "create":
            return work.rid("create")
        assert work.target is not None
        what = "deactivate" if work.operation == "deactivated" else "update"
        return work.rid_at(what, work.target.sync_token)

    async def _send(self, work: Work) -> Applied:
        """E-mail the synced document from QBO, once: a send carries no requestid, so after
        an attempt whose answer was lost the record is read first, and a delivery QBO
        stamped after the event arrived counts as this event's."""
        if work.target is None:
            raise PayloadError(f"{work.entity_type} {work.external_id!r} has no QBO record")
        to = work.payload["data"].get("to")
        if work.maybe_applied:
            current = await self.api.read(work.entity, work.target.qbo_id)
            if delivered_since(current, work.received_at):
                return Applied(
                    str(current["Id"]),
                    str(current["SyncToken"]),
                    f"{sent_note(current)}, by an earlier attempt (its answer was lost)",
                    current,
                )
        answer = await self.api.send(work.entity, work.target.qbo_id, to)
        return Applied(
            str(answer.get("Id") or work.target.qbo_id),
            str(answer.get("SyncToken") or work.target.sync_token),
            sent_note(answer),
            answer,
        )

    async def _upsert(self, work: Work) -> Applied:
        applied = await self._upsert_body(work)
        return with_write_note(applied, work)

    async def _upsert_body(self, work: Work) -> Applied:
        body = await upsert_body(work, self.lookups, self.api)
        if work.target is not None:
            return await self._update_body(work, work.target, body)
        if work.maybe_applied:
            found = await self.adopter.find_created(work, body)
            if found is not None:
                applied = Applied(
                    str(found["Id"]),
                    str(found["SyncToken"]),
                    "adopted the record an earlier attempt created (its answer was lost)",
                    found,
                )
                logger.info("adopted after an ambiguous create", extra=log_fields(work))
                return applied
        try:
            created = await self.api.write(work.entity, body, work.rid("create"))
        except QboError as err:
            if err.category is not Category.DUPLICATE_NAME:
                raise
            return await self.adopter.name_taken(work, body, err)
        return Applied(str(created["Id"]), str(created["SyncToken"]), record=created)

    async def _update_body(self, work: Work, target: Target, body: Json) -> Applied:
        try:
            return await write_at_token(self.api, work, target, sparse(body), "update")
        except QboError as err:
            if err.category is not Category.DUPLICATE_NAME or work.entity_type != "customer":
                raise
            taken = err
        # Renamed to a name another record holds: the deterministic alternatives.
        for attempt in range(1, NAME_TRIES + 1):
            renamed = {**body, "DisplayName": self.adopter.alternative(work, attempt)}
            what = "update-renamed" if attempt == 1 else f"update-renamed-{attempt}"
            try:
                applied = await write_at_token(self.api, work, target, sparse(renamed), what)
            except QboError as again:
                if again.category is not Category.DUPLICATE_NAME:
                    raise
                taken = again
                continue
            return dataclasses.replace(applied, note=renamed_note(renamed["DisplayName"]))
        raise taken
