"""Time to answer the largest requests intake takes, against the real API process.

`python -m bench.intake_sizes [--entities N] [--events N] [--rounds N]` starts
`python -m app serve` (uvicorn) on throw-away PostgreSQL and Redis and times:

* legacy      -- one signed Intuit delivery of N entities in the `eventNotifications` shape;
* cloudevents -- one signed delivery of N CloudEvents (the 2026 format);
* batch       -- one `POST /events/batch` of N customer events (BATCH_MAX_EVENTS raised).

Each round sends new changes/events (nothing is a duplicate). Printed per request: the HTTP
status, the body size and the wall time from the first byte sent to the last received.
Intuit wants its 200 within 3 s; the service's own default limits are used for webhooks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.drift.intuit import sign
from bench._procs import api_process, create_api_key, throwaway_servers

REALMS = ("9130357766412345", "9130357766499999")
ENTITIES = ("Customer", "Item", "Invoice", "Payment")


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def legacy(count: int, start: datetime) -> bytes:
    notifications = []
    for r, realm_id in enumerate(REALMS):
        entities = [
            {
                "name": ENTITIES[i % 4],
                "id": str(1000 + i),
                "operation": "Update",
                "lastUpdated": _stamp(start + timedelta(milliseconds=i)),
            }
            for i in range(r, count, len(REALMS))
        ]
        notifications.append({"realmId": realm_id, "dataChangeEvent": {"entities": entities}})
    return json.dumps({"eventNotifications": notifications}, separators=(",", ":")).encode()


def cloudevents(count: int, start: datetime) -> bytes:
    events = [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
            "type": f"qbo.{ENTITIES[i % 4].lower()}.updated.v1",
            "datacontenttype": "application/json",
            "time": _stamp(start + timedelta(milliseconds=i)),
            "intuitentityid": str(1000 + i),
            "intuitaccountid": REALMS[i % len(REALMS)],
            "data": {},
        }
        for i in range(count)
    ]
    return json.dumps(events, separators=(",", ":")).encode()


def batch(count: int) -> bytes:
    run = secrets.token_hex(4)
    events: list[dict[str, Any]] = [
        {
            "event_id": f"bench-{run}-{i}",
            "realm_id": REALMS[i % len(REALMS)],
            "type": "customer.upserted",
            "occurred_at": "2026-11-25T10:00:00Z",
            "data": {
                "external_id": f"cust-{run}-{i}",
                "display_name": f"Customer {run} {i}",
                "email": "ada@example.com",
                "currency": "USD",
            },
        }
        for i in range(count)
    ]
    return json.dumps({"events": events}, separators=(",", ":")).encode()


async def _time(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> str:
    began = time.perf_counter()
    answer = await client.post(url, content=body, headers=headers)
    elapsed = time.perf_counter() - began
    summary = answer.text[:80].replace("\n", " ")
    return f"{answer.status_code} {len(body) / 1e6:.2f} MB {elapsed:.3f} s  {summary}"


async def _run(base_url: str, key: str, token: str, args: argparse.Namespace) -> None:
    content = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for name in ("legacy", "cloudevents", "batch"):
            for round_ in range(args.rounds):
                start = datetime(2026, 11, 25, tzinfo=UTC) + timedelta(hours=round_)
                if name == "batch":
                    body = batch(args.events)
                    headers = {**content, "authorization": f"Bearer {key}"}
                    url = "/events/batch"
                else:
                    body = (legacy if name == "legacy" else cloudevents)(args.entities, start)
                    headers = {**content, "intuit-signature": sign(body, token)}
                    url = "/webhooks/intuit"
                print(f"{name:12} round {round_ + 1}: {await _time(client, url, body, headers)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=8000)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-body-bytes", type=int, default=None)
    args = parser.parse_args()
    from app.migrate import migrate_to_head

    token = secrets.token_urlsafe(24)
    with throwaway_servers("bench-sizes") as servers:
        migrate_to_head(servers.settings())
        key = asyncio.run(create_api_key(servers.settings(), "bench-sizes", "events:write"))
        extra = {"BATCH_MAX_EVENTS": "5000", "QBO_WEBHOOK_VERIFIER_TOKEN": token}
        if args.max_body_bytes:
            extra["MAX_BODY_BYTES"] = str(args.max_body_bytes)
        with api_process(servers.env(**extra), servers.data_dir) as api:
            asyncio.run(_run(api.base_url, key, token, args))


if __name__ == "__main__":
    main()
