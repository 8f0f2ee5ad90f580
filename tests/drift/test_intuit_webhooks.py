"""Intuit's webhook signature and both body formats, against the SDKs' own vectors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.core.times import parse_time
from app.drift.intuit import MalformedNotification, parse, sign, verify

VECTORS = Path(__file__).resolve().parents[1] / "emulator" / "fixtures" / "webhooks"


def vectors() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / "vectors.json").read_text())["vectors"]
    return cases


@pytest.mark.parametrize("case", vectors(), ids=lambda c: str(c["id"]))
def test_signature_vectors(case: dict[str, Any]) -> None:
    body = (VECTORS / case["payload_file"]).read_bytes()
    assert verify(body, case["intuit_signature"], case["verifier_token"]) is case["expect_valid"]


def test_a_wrong_token_a_changed_byte_or_reserialised_json_fails() -> None:
    [case, *_] = [c for c in vectors() if c["expect_valid"]]
    body = (VECTORS / case["payload_file"]).read_bytes()
    signature, token = case["intuit_signature"], case["verifier_token"]
    assert verify(body, signature, token)
    assert not verify(body, signature, token + "x")
    changed = bytearray(body)
    changed[10] ^= 1
    assert not verify(bytes(changed), signature, token)
    reserialised = json.dumps(json.loads(body), indent=1).encode()
    assert reserialised != body
    assert not verify(reserialised, signature, token)
    assert not verify(body, None, token)
    assert not verify(body, "", token)
    assert verify(body, sign(body, token), token)


def test_legacy_body() -> None:
    body = (VECTORS / "dotnet-sdk-webhook.payload.json").read_bytes()
    vendor, customer = parse(body)
    assert (customer.realm_id, customer.entity, customer.qbo_id) == ("1269959970", "Customer", "43")
    assert customer.operation == "Create"
    assert customer.changed_at == datetime(2016, 10, 5, 3, 7, 4, tzinfo=UTC)
    assert vendor.entity == "Vendor"
    assert customer.dedupe_key != vendor.dedupe_key
    # The same change delivered again has the same key.
    assert parse(body)[1].dedupe_key == customer.dedupe_key


def test_legacy_offset_timestamps() -> None:
    body = (VECTORS / "java-sdk-webhook.payload.json").read_bytes()
    [change] = parse(body)
    assert change.changed_at == datetime(2015, 10, 5, 21, 42, 19, tzinfo=UTC)


def test_cloudevents_body() -> None:
    body = (VECTORS / "dotnet-sdk-cloudevents.payload.json").read_bytes()
    [change] = parse(body)
    assert change.dedupe_key == "ce:d1a3aedd-9670-41bf-a4f9-c148a1cc4e03"
    assert (change.realm_id, change.qbo_id, change.operation) == ("310687", "1234", "Create")
    assert change.entity == "Class"
    assert change.changed_at == datetime(2025, 10, 7, 19, 59, 7, 34359, tzinfo=UTC)


def test_cloudevents_verbs_and_entities() -> None:
    events = [
        {
            "specversion": "1.0",
            "id": f"e{i}",
            "type": f"qbo.{entity}.{verb}.v1",
            "intuitentityid": str(i),
            "intuitaccountid": "42",
            "time": "2026-11-25T10:00:00Z",
        }
        for i, (entity, verb) in enumerate(
            [
                ("invoice", "voided"),
                ("customer", "merged"),
                ("payment", "deleted"),
                ("item", "updated"),
            ]
        )
    ]
    changes = parse(json.dumps(events).encode())
    assert [(c.entity, c.operation) for c in changes] == [
        ("Invoice", "Void"),
        ("Customer", "Merge"),
        ("Payment", "Delete"),
        ("Item", "Update"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'"text"',
        b'{"eventNotifications": "x"}',
        b'{"eventNotifications": [{"dataChangeEvent": {"entities": []}}]}',
        b'[{"specversion": "1.0", "id": "x", "type": "not.a.type"}]',
        b'[{"id": "x", "type": "qbo.customer.created.v1"}]',
        b'["string"]',
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(MalformedNotification):
        parse(body)


def test_times() -> None:
    assert parse_time("2026-11-25T10:00:00-0800") == datetime(2026, 11, 25, 18, tzinfo=UTC)
    assert parse_time("2026-11-25T10:00:00.123456789Z") == datetime(
        2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC
    )
    assert parse_time("nonsense") is None
    assert parse_time(None) is None
