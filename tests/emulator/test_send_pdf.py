"""Sending a form by e-mail and reading it as a PDF; the new forms in webhooks, CDC, the
throttles, the counters and the state file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from app.emulator.app import create_app, store_of
from app.emulator.config import EmulatorConfig, LimitsConfig, WebhookConfig
from app.emulator.persist import StateFile
from tests.fixtures.qbo import Qbo, fault_code, make_qbo
from tests.support.pdf_reader import check_structure, page_text
from tests.support.sales_forms import apply_credit, credit_memo, item_lines, record


async def send(qbo: Qbo, path: str, **params: str) -> httpx.Response:
    """As QBO's clients send it: no body, Content-Type application/octet-stream."""
    return await qbo.client.post(
        f"{qbo.base}/{path}/send",
        params=params or None,
        content=b"",
        headers={**qbo.headers, "Content-Type": "application/octet-stream"},
    )


async def sends(qbo: Qbo) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (
        await qbo.client.get(f"/admin/companies/{qbo.realm_id}/sends")
    ).json()["sends"]
    return listed


async def test_sending_an_invoice_marks_it_sent_and_records_the_send(qbo: Qbo) -> None:
    customer = await qbo.customer("Mail Ann")
    invoice = await qbo.invoice(customer["Id"], "50")
    qbo.store.clock.advance(60)
    response = await send(qbo, f"invoice/{invoice['Id']}", sendTo="ann@example.com")
    assert response.status_code == 200, response.text
    sent = response.json()["Invoice"]
    assert sent["EmailStatus"] == "EmailSent"
    assert sent["BillEmail"] == {"Address": "ann@example.com"}
    assert sent["DeliveryInfo"]["DeliveryType"] == "Email"
    assert sent["DeliveryInfo"]["DeliveryTime"] == sent["MetaData"]["LastUpdatedTime"]
    assert sent["MetaData"]["LastUpdatedTime"] != invoice["MetaData"]["LastUpdatedTime"]
    assert sent["SyncToken"] == invoice["SyncToken"]  # as recorded: sending is no edit
    assert (await qbo.get(f"invoice/{invoice['Id']}")).json()["Invoice"] == sent
    assert await sends(qbo) == [
        {
            "entity": "Invoice",
            "Id": invoice["Id"],
            "to": "ann@example.com",
            "time": sent["DeliveryInfo"]["DeliveryTime"],
        }
    ]
    counters = (await qbo.client.get(f"/admin/companies/{qbo.realm_id}/counters")).json()
    assert counters["by_endpoint"]["POST invoice/send"] == 1


async def test_send_needs_an_address_and_only_sales_forms_are_sent(qbo: Qbo) -> None:
    customer = await qbo.customer("Mail Bob")
    invoice = await qbo.invoice(customer["Id"], "50")
    nowhere = await send(qbo, f"invoice/{invoice['Id']}")
    assert fault_code(nowhere) == "2020"
    bad = await send(qbo, f"invoice/{invoice['Id']}", sendTo="not-an-address")
    assert fault_code(bad) == "2210"
    memo = await credit_memo(qbo, customer["Id"], "5", BillEmail={"Address": "bob@example.com"})
    to_bill_email = await send(qbo, f"creditmemo/{memo['Id']}")
    assert to_bill_email.json()["CreditMemo"]["EmailStatus"] == "EmailSent"
    receipt = await qbo.ok("salesreceipt", {"Line": item_lines("5")})
    assert (await send(qbo, f"salesreceipt/{receipt['Id']}", sendTo="c@example.com")).is_success
    assert [(s["entity"], s["to"]) for s in await sends(qbo)] == [
        ("CreditMemo", "bob@example.com"),
        ("SalesReceipt", "c@example.com"),
    ]
    payment = await qbo.ok("payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 5})
    not_a_form = await send(qbo, f"payment/{payment['Id']}", sendTo="c@example.com")
    assert fault_code(not_a_form) == "500"
    assert fault_code(await send(qbo, "invoice/999", sendTo="c@example.com")) == "610"


async def test_a_form_reads_as_a_pdf_with_its_number_and_total(qbo: Qbo) -> None:
    customer = await qbo.customer("Pdf (Ann) \\ Co")
    invoice = await qbo.invoice(customer["Id"], "100", "23.45", DocNumber="INV-77")
    response = await qbo.get(f"invoice/{invoice['Id']}/pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert check_structure(response.content) >= 5
    text = page_text(response.content)
    assert "Invoice INV-77" in text
    assert "Total: 123.45 USD" in text
    assert "Customer: Pdf (Ann) \\ Co" in text  # escaped in the file, read back whole

    receipt = await qbo.ok("salesreceipt", {"Line": item_lines(*["1"] * 120)})
    many = (await qbo.get(f"salesreceipt/{receipt['Id']}/pdf")).content
    assert check_structure(many) == 4 + 2 * 3  # 120 lines and a header: three pages
    assert f"Sales Receipt {receipt['DocNumber']}" in page_text(many)
    assert "Total: 120.00 USD" in page_text(many)

    memo = await credit_memo(qbo, customer["Id"], "7")
    assert "Total: 7.00 USD" in page_text((await qbo.get(f"creditmemo/{memo['Id']}/pdf")).content)
    assert fault_code(await qbo.get("invoice/999/pdf")) == "610"
    assert fault_code(await qbo.get("customer/1/pdf")) == "500"
    counters = (await qbo.client.get(f"/admin/companies/{qbo.realm_id}/counters")).json()
    assert counters["by_endpoint"]["GET invoice/pdf"] == 2


async def test_send_and_pdf_count_in_the_realm_throttle() -> None:
    limits = LimitsConfig(requests_per_second=None, max_in_flight=None, requests_per_window=3)
    qbo, _ = await make_qbo(EmulatorConfig(frozen_clock=True, seed=7, limits=limits))
    try:
        customer = await qbo.customer("Busy Ann")
        invoice = await qbo.invoice(customer["Id"], "5")
        assert (await qbo.get(f"invoice/{invoice['Id']}/pdf")).status_code == 200
        throttled = await send(qbo, f"invoice/{invoice['Id']}", sendTo="a@example.com")
        assert throttled.status_code == 429
        assert (await qbo.get(f"invoice/{invoice['Id']}/pdf")).status_code == 429
        assert await sends(qbo) == []
    finally:
        await qbo.client.aclose()


async def test_new_forms_notify_and_show_in_cdc() -> None:
    hooks = WebhookConfig(url="http://listener.test/hook", aggregate_seconds=60)
    config = EmulatorConfig(frozen_clock=True, seed=7, limits=LimitsConfig(enabled=False))
    config.webhooks = hooks
    qbo, app = await make_qbo(config)
    try:
        customer = await qbo.customer("Hook Ann")
        invoice = await qbo.invoice(customer["Id"], "40")
        memo = await credit_memo(qbo, customer["Id"], "10")
        receipt = await qbo.ok("salesreceipt", {"Line": item_lines("5")})
        refund = await qbo.ok(
            "refundreceipt",
            {
                "CustomerRef": {"value": customer["Id"]},
                "Line": item_lines("5"),
                "DepositToAccountRef": {"value": "7"},
            },
        )
        qbo.store.clock.advance(1)
        payment = await apply_credit(qbo, customer["Id"], invoice["Id"], memo["Id"], "10")
        await send(qbo, f"salesreceipt/{receipt['Id']}", sendTo="a@example.com")
        await qbo.ok("refundreceipt", {"Id": refund["Id"], "SyncToken": "0"}, operation="delete")
        notes = [(n.entity, n.entity_id, n.operation) for n in store_of(app).webhooks.pending]
        assert ("CreditMemo", memo["Id"], "Create") in notes
        assert ("SalesReceipt", receipt["Id"], "Create") in notes
        assert ("RefundReceipt", refund["Id"], "Create") in notes
        assert ("CreditMemo", memo["Id"], "Update") in notes  # its credit was applied
        assert ("Invoice", invoice["Id"], "Update") in notes
        assert ("Payment", payment["Id"], "Create") in notes
        assert ("SalesReceipt", receipt["Id"], "Emailed") in notes
        assert ("RefundReceipt", refund["Id"], "Delete") in notes

        since = memo["MetaData"]["LastUpdatedTime"]
        cdc = await qbo.get(
            "cdc", entities="CreditMemo,SalesReceipt,RefundReceipt", changedSince=since
        )
        memos, receipts, refunds = cdc.json()["CDCResponse"][0]["QueryResponse"]
        assert [(m["Id"], m["RemainingCredit"]) for m in memos["CreditMemo"]] == [(memo["Id"], 0)]
        assert receipts["SalesReceipt"][0]["EmailStatus"] == "EmailSent"
        assert refunds["RefundReceipt"] == [
            {
                "domain": "QBO",
                "status": "Deleted",
                "Id": refund["Id"],
                "MetaData": refunds["RefundReceipt"][0]["MetaData"],
            }
        ]
    finally:
        await store_of(app).webhooks.aclose()
        await qbo.client.aclose()


async def test_new_forms_and_sends_survive_a_restart(tmp_path: Path) -> None:
    qbo, _ = await make_qbo()
    try:
        customer = await qbo.customer("Kept Ann")
        invoice = await qbo.invoice(customer["Id"], "40")
        memo = await credit_memo(qbo, customer["Id"], "10")
        await apply_credit(qbo, customer["Id"], invoice["Id"], memo["Id"], "4")
        receipt = await qbo.ok("salesreceipt", {"Line": item_lines("5.55")})
        await send(qbo, f"invoice/{invoice['Id']}", sendTo="a@example.com")
        StateFile(tmp_path / "state.json", qbo.store).save()
        fresh_app = create_app(EmulatorConfig(frozen_clock=True))
        assert StateFile(tmp_path / "state.json", store_of(fresh_app)).load()
        fresh = Qbo(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=fresh_app), base_url="http://q"),
            store_of(fresh_app),
            qbo.realm_id,
            (await qbo.client.post(f"/admin/companies/{qbo.realm_id}/tokens")).json(),
        )
        kept = store_of(fresh_app).company(qbo.realm_id)
        assert kept is not None
        kept_memo = kept.get("CreditMemo", memo["Id"]) or {}
        assert str(kept_memo["RemainingCredit"]) == "6.00"
        assert str((kept.get("SalesReceipt", receipt["Id"]) or {})["TotalAmt"]) == "5.55"
        assert [s["to"] for s in kept.sends] == ["a@example.com"]
        assert (await record(fresh, "invoices", invoice["Id"]))["EmailStatus"] == "EmailSent"
        await fresh.client.aclose()
    finally:
        await qbo.client.aclose()
