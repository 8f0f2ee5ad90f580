"""What a billing system sends beyond lines and amounts: ship-to, terms, e-mail, class,
department, custom fields, private note, exchange rate, line kinds; a sub-customer and its
tax exemption; a payment's exchange rate."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from app.sync.payloads import (
    CompanyContext,
    NameLists,
    PayloadError,
    customer_body,
    has_marker,
    invoice_body,
    marked_ids,
    number_note,
    payment_body,
    sparse_update,
)
from tests.support.samples import (
    GB,
    INVOICE_REFS,
    ITEM_REFS,
    NAMES,
    US,
    US_CUSTOM_NUMBERS,
    US_TRACKING,
    customer,
    full_invoice,
    invoice,
    payment,
)


def _full(ctx: CompanyContext = US_TRACKING, /, **overrides: object) -> dict[str, object]:
    return invoice_body(full_invoice(**overrides), ctx, "58", ITEM_REFS, NAMES)


def test_every_header_field_goes_to_its_qbo_field() -> None:
    body = _full()
    assert body["ShipDate"] == "2026-03-02"
    assert body["ShipAddr"] == {
        "Line1": "1 Dock Street",
        "City": "Oakland",
        "CountrySubDivisionCode": "CA",
    }
    assert body["SalesTermRef"] == {"value": "3"}
    assert body["BillEmail"] == {"Address": "ap@obrien.example"}
    assert body["BillEmailCc"] == {"Address": "boss@obrien.example"}
    assert body["BillEmailBcc"] == {"Address": "archive@acme.example"}
    assert body["ClassRef"] == {"value": "1"}
    assert body["DepartmentRef"] == {"value": "5"}
    assert body["CustomerMemo"] == {"value": "Thank you for your business"}


def test_custom_fields_go_by_the_definition_of_their_name() -> None:
    assert _full()["CustomField"] == [
        {"DefinitionId": "1", "Name": "PO", "Type": "StringType", "StringValue": "PO-981"},
        {"DefinitionId": "2", "Name": "Crew #", "Type": "StringType", "StringValue": "7"},
    ]


@pytest.mark.parametrize("name", ["Unused", "Colour"])
def test_a_custom_field_the_company_does_not_use_is_refused(name: str) -> None:
    with pytest.raises(PayloadError, match=r"custom_fields: .*PO, Crew #"):
        _full(custom_fields={name: "x"})


def test_private_note_keeps_our_marker_findable() -> None:
    note = _full()["PrivateNote"]
    assert isinstance(note, str)
    assert note == "qbo-sync:invoice:inv-2026-0042\nAgreed with Siobhan on the phone"
    assert has_marker(note, "invoice", "inv-2026-0042")
    assert has_marker(f"Voided - {note}", "invoice", "inv-2026-0042")
    assert marked_ids(note, "invoice") == {"inv-2026-0042"}
    plain = invoice_body(invoice(), US, "58", ITEM_REFS)["PrivateNote"]
    assert plain == "qbo-sync:invoice:inv-2026-0042"


def test_the_longest_private_note_fits_qbo_with_the_longest_marker() -> None:
    from app.events.schemas import PRIVATE_NOTE_ROOM

    external_id = "x" * 100
    body = invoice_body(
        invoice(external_id=external_id, private_note="n" * PRIVATE_NOTE_ROOM), US, "58", ITEM_REFS
    )
    assert len(f"Voided - {body['PrivateNote']}") <= 4000
    assert has_marker(body["PrivateNote"], "invoice", external_id)


def test_terms_class_and_department_resolve_by_id_or_name() -> None:
    body = _full(terms="3", department="5", **{"class": "retail"})
    assert body["SalesTermRef"] == {"value": "3"}
    assert body["DepartmentRef"] == {"value": "5"}
    assert body["ClassRef"] == {"value": "1"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("terms", "Net 60", "terms: 'Net 60' is not one of the company's active terms"),
        ("terms", "Due on receipt", "terms: "),
        ("department", "South", "department: 'South'"),
        ("class", "Wholesale", "class: 'Wholesale'"),
    ],
)
def test_an_unknown_name_is_refused_naming_the_field(field: str, value: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        _full(**{field: value})


def test_an_unknown_line_class_names_its_line() -> None:
    data = full_invoice()
    lines = [line.model_dump(mode="json", exclude_none=True) for line in data.lines]
    lines[2]["class"] = "Wholesale"
    with pytest.raises(PayloadError, match=r"lines\[2\]\.class"):
        _full(lines=lines)


def test_a_line_class_goes_on_its_line_and_the_others_carry_none() -> None:
    lines = _full()["Line"]
    assert isinstance(lines, list)
    assert lines[0]["SalesItemLineDetail"]["ClassRef"] == {"value": "2"}
    assert "ClassRef" not in lines[2]["SalesItemLineDetail"]


def test_per_line_tracking_puts_the_invoice_class_on_each_item_line() -> None:
    per_line = dataclasses.replace(US_TRACKING, class_per_txn=False)
    body = _full(per_line)
    assert "ClassRef" not in body
    lines = body["Line"]
    assert isinstance(lines, list)
    assert lines[0]["SalesItemLineDetail"]["ClassRef"] == {"value": "2"}  # its own
    assert lines[2]["SalesItemLineDetail"]["ClassRef"] == {"value": "1"}  # the invoice's
    assert "SalesItemLineDetail" not in lines[1]


def test_the_events_class_wins_over_the_settings() -> None:
    ctx = dataclasses.replace(US_TRACKING, class_id="9", department_id="8")
    body = _full(ctx)
    assert body["ClassRef"] == {"value": "1"}
    assert body["DepartmentRef"] == {"value": "5"}
    silent = invoice_body(invoice(), ctx, "58", ITEM_REFS, NAMES)
    assert silent["ClassRef"] == {"value": "9"}
    assert silent["DepartmentRef"] == {"value": "8"}


def test_the_settings_class_and_department_go_on_a_create_only() -> None:
    ctx = dataclasses.replace(US_TRACKING, class_id="9", department_id="8")
    update = invoice_body(invoice(), ctx, "58", ITEM_REFS, NAMES, defaults=False)
    assert "ClassRef" not in update
    assert "DepartmentRef" not in update
    given = sparse_update(_full(ctx), "130", "4")
    assert given["ClassRef"] == {"value": "1"}  # the caller's: written on every update
    assert given["DepartmentRef"] == {"value": "5"}


def test_a_class_or_department_where_the_company_tracks_none_is_refused() -> None:
    untracked = dataclasses.replace(
        US_TRACKING, class_per_txn=False, class_per_line=False, departments=False
    )
    data = full_invoice()
    lines = [line.model_dump(mode="json", exclude_none=True) for line in data.lines]
    lines[0].pop("class")
    with pytest.raises(PayloadError, match=r"class names class Retail.*ClassTrackingPerTxn"):
        _full(untracked, lines=lines)
    with pytest.raises(PayloadError, match=r"department names department North.*TrackDepartments"):
        _full(untracked, lines=lines, **{"class": None})


def test_a_line_class_where_classes_go_per_transaction_is_refused() -> None:
    per_txn = dataclasses.replace(US_TRACKING, class_per_line=False)
    with pytest.raises(PayloadError, match=r"lines\[0\]\.class names class Retail:Online"):
        _full(per_txn)


def test_description_and_subtotal_lines() -> None:
    lines = _full()["Line"]
    assert isinstance(lines, list)
    assert [line["DetailType"] for line in lines] == [
        "SalesItemLineDetail",
        "DescriptionOnly",
        "SalesItemLineDetail",
        "SubTotalLineDetail",
    ]
    assert lines[1] == {
        "DetailType": "DescriptionOnly",
        "Description": "Travel below",
        "DescriptionLineDetail": {},
    }
    assert lines[3] == {
        "DetailType": "SubTotalLineDetail",
        "Description": "Subtotal",
        "SubTotalLineDetail": {},
    }
    assert all("Amount" not in line for line in lines[1::2])


def test_the_invoice_total_ignores_description_and_subtotal_lines() -> None:
    assert full_invoice().total == Decimal("1200.18") == invoice().total


def test_exchange_rate_only_for_a_foreign_currency_of_a_multicurrency_company() -> None:
    body = _full(currency="EUR", exchange_rate="1.0825")
    assert body["CurrencyRef"] == {"value": "EUR"}
    assert body["ExchangeRate"] == Decimal("1.0825")
    assert "ExchangeRate" not in _full(currency="EUR")
    with pytest.raises(PayloadError, match="exchange_rate: only for a currency other than"):
        _full(currency="USD", exchange_rate="1.5")
    with pytest.raises(PayloadError, match="exchange_rate: the company does not use multi"):
        invoice_body(invoice(currency="USD", exchange_rate="1.5"), US, "58", ITEM_REFS, NAMES)


def test_an_invoice_number_left_out_is_never_silent() -> None:
    assert "DocNumber" not in invoice_body(invoice(), US, "58", ITEM_REFS)
    note = number_note(invoice(), US)
    assert note is not None
    assert "'2026-0042' not sent" in note
    assert "doc_number_ours" in note
    assert number_note(invoice(), US_CUSTOM_NUMBERS) is None
    assert number_note(invoice(number=None), US) is None


def test_a_sub_customer_carries_its_parent() -> None:
    body = customer_body(customer(parent_external_id="crm-1000"), US, "41")
    assert body["ParentRef"] == {"value": "41"}
    assert body["Job"] is True
    assert "ParentRef" not in customer_body(customer(), US)
    assert "Job" not in customer_body(customer(), US)
    with pytest.raises(PayloadError, match="parent_external_id: customer 'crm-1000'"):
        customer_body(customer(parent_external_id="crm-1000"), US)


def test_a_tax_exempt_customer() -> None:
    body = customer_body(customer(taxable=False, tax_exemption_reason_id=9), US)
    assert body["Taxable"] is False
    assert body["TaxExemptionReasonId"] == "9"
    plain = customer_body(customer(), US)
    assert "Taxable" not in plain
    assert "TaxExemptionReasonId" not in plain
    assert customer_body(customer(taxable=True), US)["Taxable"] is True


def test_payment_exchange_rate() -> None:
    body = payment_body(payment(currency="EUR", exchange_rate="0.86"), GB, "58", INVOICE_REFS)
    assert body["ExchangeRate"] == Decimal("0.86")
    with pytest.raises(PayloadError, match="exchange_rate: only for a currency other than"):
        payment_body(payment(currency="GBP", exchange_rate="1"), GB, "58", INVOICE_REFS)
    with pytest.raises(PayloadError, match="exchange_rate: the company does not use multi"):
        payment_body(payment(currency="USD", exchange_rate="1.1"), US, "58", INVOICE_REFS)


def test_payment_department_from_settings_goes_on_a_create_only() -> None:
    ctx = dataclasses.replace(US_TRACKING, department_id="8")
    assert payment_body(payment(), ctx, "58", INVOICE_REFS)["DepartmentRef"] == {"value": "8"}
    update = payment_body(payment(), ctx, "58", INVOICE_REFS, defaults=False)
    assert "DepartmentRef" not in update


def test_name_lists_leave_inactive_records_out() -> None:
    with pytest.raises(PayloadError, match=r"terms: .4. is not"):
        invoice_body(invoice(terms="4"), US, "58", ITEM_REFS, NAMES)
    with pytest.raises(PayloadError, match="terms: 'Net 30'"):
        invoice_body(invoice(terms="Net 30"), US, "58", ITEM_REFS, NameLists())
