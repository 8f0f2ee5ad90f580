"""Names, disambiguation, query literals, markers and requestids."""

from __future__ import annotations

import uuid

import pytest

from app.emulator.query import parse
from app.sync.payloads import (
    PayloadError,
    clean_name,
    disambiguated_name,
    has_marker,
    marked_ids,
    marker,
    query_escape,
    query_literal,
    requestid,
)

EVENT = uuid.UUID("0b6f3c1e-7a52-4d0e-9f5e-3c2a1b4d5e6f")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Acme: West", "Acme- West"),
        ("Tab\there", "Tab here"),
        ("Two\nlines", "Two lines"),
        ("Windows\r\nline", "Windows line"),
        ("  padded  ", "padded"),
        ("O'Brien \\ Sons", "O'Brien \\ Sons"),
        ("a:b:c", "a-b-c"),
    ],
)
def test_clean_name_replaces_forbidden_characters(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean
    assert clean_name(clean) == clean  # idempotent


def test_clean_name_caps_length_without_trailing_blank() -> None:
    assert clean_name("x" * 600) == "x" * 500
    assert clean_name("y" * 499 + " z") == "y" * 499
    assert clean_name("n" * 150, 100) == "n" * 100


def test_clean_name_refuses_what_becomes_empty() -> None:
    with pytest.raises(PayloadError):
        clean_name("\t\n")


def test_disambiguated_name_default_template() -> None:
    assert disambiguated_name("Jane Doe", "crm-42") == "Jane Doe (crm-42)"


def test_disambiguated_name_cuts_display_part_to_fit_500() -> None:
    name = disambiguated_name("a" * 500, "ext-1")
    assert len(name) == 500
    assert name.endswith("a (ext-1)")
    assert name == "a" * (500 - len(" (ext-1)")) + " (ext-1)"


def test_disambiguated_name_cleans_both_parts() -> None:
    assert disambiguated_name("Acme:\tWest", "sys:7") == "Acme- West (sys-7)"
    long_id = "i" * 100
    name = disambiguated_name("b" * 499 + ":", long_id)
    assert len(name) == 500
    assert name.endswith(f" ({long_id})")
    assert ":" not in name


def test_disambiguated_name_custom_template_and_determinism() -> None:
    template = "{external_id} - {display_name}"
    first = disambiguated_name("Shop", "7", template)
    assert first == "7 - Shop"
    assert disambiguated_name("Shop", "7", template) == first
    # Format syntax other than the two placeholders stays literal.
    assert disambiguated_name("S", "1", "{display_name} {x} [{external_id}]") == "S {x} [1]"


def test_disambiguated_name_needs_the_external_id() -> None:
    with pytest.raises(ValueError, match="external_id"):
        disambiguated_name("Shop", "7", "{display_name} 2")


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("O'Brien", "O\\'Brien"),
        ("back\\slash", "back\\\\slash"),
        ("\\'", "\\\\\\'"),
        ("plain", "plain"),
    ],
)
def test_query_escape(value: str, escaped: str) -> None:
    assert query_escape(value) == escaped
    assert query_literal(value) == f"'{escaped}'"


def test_query_literal_reads_back_in_the_emulator_grammar() -> None:
    name = "Mc'Kay \\ O'Neil"
    query = f"SELECT * FROM Customer WHERE DisplayName = {query_literal(name)}"  # noqa: S608
    parsed = parse(query)
    assert parsed.conditions[0].values == [name]


def test_marker_and_has_marker() -> None:
    assert marker("invoice", "INV-1") == "qbo-sync:invoice:INV-1"
    assert marker("payment", "p:1") == "qbo-sync:payment:p:1"
    assert has_marker("qbo-sync:invoice:A1", "invoice", "A1")
    assert has_marker("Voided - qbo-sync:invoice:A1", "invoice", "A1")
    assert not has_marker("qbo-sync:invoice:A10", "invoice", "A1")
    assert not has_marker("qbo-sync:payment:A1", "invoice", "A1")
    assert not has_marker(None, "invoice", "A1")


@pytest.mark.parametrize(
    ("entity", "external_id"), [("bill", "1"), ("invoice", ""), ("item", "a b")]
)
def test_marker_refuses_bad_input(entity: str, external_id: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by cause
        marker(entity, external_id)


def test_requestid_is_short_deterministic_and_per_operation() -> None:
    create = requestid(EVENT, "create")
    assert create == requestid(EVENT, "create")
    assert len(create) <= 50
    assert create == uuid.UUID(hex=create).hex  # a UUID in hex form
    assert uuid.UUID(hex=create).version == 5
    others = {requestid(EVENT, op) for op in ("update:0", "update:1", "void", "delete")}
    assert create not in others
    assert len(others) == 4
    assert requestid(uuid.uuid4(), "create") != create


def test_requestid_stays_short_for_long_operations() -> None:
    assert len(requestid(EVENT, "update:" + "9" * 200)) == 32


def test_requestid_needs_an_operation() -> None:
    with pytest.raises(ValueError, match="operation"):
        requestid(EVENT, "")


def test_disambiguated_name_counts_further_tries() -> None:
    names = [disambiguated_name("Acme Ltd", "cust-42", attempt=n) for n in (1, 2, 3)]
    assert names == ["Acme Ltd (cust-42)", "Acme Ltd (cust-42) 2", "Acme Ltd (cust-42) 3"]
    long = disambiguated_name("a" * 500, "ext-1", attempt=12)
    assert len(long) == 500
    assert long.endswith("a (ext-1) 12")
    with pytest.raises(ValueError, match="attempt"):
        disambiguated_name("Acme", "1", attempt=0)


def test_disambiguated_name_fits_an_item_name() -> None:
    name = disambiguated_name("n" * 100, "item-1", limit=100)
    assert name == "n" * (100 - len(" (item-1)")) + " (item-1)"
    long_id = "i" * 100  # the id alone is too long: cut, the counter kept
    assert disambiguated_name("Bolt", long_id, limit=100, attempt=2) == "(" + "i" * 97 + " 2"


def test_marked_ids_names_whose_record_it_is() -> None:
    assert marked_ids("Voided qbo-sync:customer:c1", "customer") == {"c1"}
    assert marked_ids("qbo-sync:customer:c1 qbo-sync:item:i1", "item") == {"i1"}
    assert marked_ids("qbo-sync:customer: notes", "customer") == set()
    assert marked_ids(None, "customer") == set()
