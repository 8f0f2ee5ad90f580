"""An emulator's companies, records and tokens kept in a file, so that a restart finds them.

Off unless `EmulatorConfig.state_file` is set (the tests' emulators live in memory only);
`python -m app run` sets it under DATA_DIR, next to PostgreSQL's and Redis' data, so a
connection made before a restart still works after it and the company can be reconnected.

Kept: every company with its records, tombstones, next ids, requestid memos and the
forms it e-mailed; every
client, authorization code, grant and token. Not kept: throttle windows, counters,
injected faults and queued webhook notifications (they describe a moment, not the books).
The file is JSON with tagged Decimals, datetimes, dates and bytes, so amounts come back
exactly; it is written atomically (a temporary file renamed over it) at most every
`SAVE_DELAY_SECONDS` after a change and once more on shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.emulator.company import Company, Memo, SalesSettings
from app.emulator.store import Store
from app.emulator.tokens import AccessToken, AuthCode, Grant

FORMAT = 1
SAVE_DELAY_SECONDS = 0.5


class StateFileError(Exception):
    """The state file exists but cannot be read back (the message says what to do)."""


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot keep a {type(value).__name__} in the emulator's state file")


_DECODERS: dict[str, Any] = {
    "$decimal": Decimal,
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$bytes": base64.b64decode,
}


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((tag, raw),) = obj.items()
        decoder = _DECODERS.get(tag)
        if decoder is not None:
            return decoder(raw)
    return obj


def snapshot(store: Store) -> dict[str, Any]:
    """Everything a restart needs, as plain data (see the module docstring for what)."""
    tokens = store.tokens
    return {
        "format": FORMAT,
        "saved_at": store.now(),
        "companies": [
            {
                "realm_id": c.realm_id,
                "name": c.name,
                "country": c.country,
                "custom_txn_numbers": c.custom_txn_numbers,
                "currency": list(c.currency),
                "created_at": c.created_at,
                "records": c.records,
                "deleted": c.deleted,
                "next_ids": c.next_ids,
                "next_doc_number": c.next_doc_number,
                "tax_rates": c.tax_rates,
                "sales": asdict(c.sales),
                "requestids": {k: asdict(m) for k, m in c.requestids.items()},
                "sends": c.sends,
                "webhooks": c.webhooks,
            }
            for c in store.companies.values()
        ],
        "tokens": {
            "clients": tokens.clients,
            "grants": {k: asdict(g) for k, g in tokens.grants.items()},
            "codes": {k: asdict(c) for k, c in tokens.codes.items()},
            "access": {k: asdict(a) for k, a in tokens.access.items()},
            "refresh_index": tokens.refresh_index,
            "superseded": tokens.superseded,
        },
    }


def restore(store: Store, state: dict[str, Any]) -> None:
    """Put a `snapshot` back into a fresh store.

    Side effects: companies listen for webhooks again, clients given on the command line
    win over stored ones, and the clock moves forward to the saved time if it is behind
    (the emulator's time never runs backwards across a restart).
    """
    if state.get("format") != FORMAT:
        raise ValueError(f"unknown format {state.get('format')!r}")
    for item in state["companies"]:
        company = Company(
            realm_id=item["realm_id"],
            name=item["name"],
            country=item["country"],
            custom_txn_numbers=item["custom_txn_numbers"],
            currency=(item["currency"][0], item["currency"][1]),
            created_at=item["created_at"],
            records=item["records"],
            deleted=item["deleted"],
            next_ids=item["next_ids"],
            next_doc_number=item["next_doc_number"],
            tax_rates=item["tax_rates"],
            sales=SalesSettings(**item.get("sales", {})),
            requestids={k: Memo(**m) for k, m in item["requestids"].items()},
            sends=list(item.get("sends", [])),
            webhooks=bool(item.get("webhooks", True)),
        )
        company.listener = store.webhooks.notify
        store.companies[company.realm_id] = company
    tokens, saved = store.tokens, state["tokens"]
    tokens.clients = {**saved["clients"], **store.config.clients}
    tokens.grants = {k: Grant(**g) for k, g in saved["grants"].items()}
    tokens.codes = {k: AuthCode(**c) for k, c in saved["codes"].items()}
    tokens.access = {k: AccessToken(**a) for k, a in saved["access"].items()}
    tokens.refresh_index = dict(saved["refresh_index"])
    tokens.superseded = dict(saved["superseded"])
    behind = (state["saved_at"] - store.now()).total_seconds()
    if behind > 0:
        store.clock.advance(behind)


class StateFile:
    """Loads a store from `path` and writes it back after changes (debounced) and on close."""

    def __init__(self, path: Path, store: Store) -> None:
        self.path = path
        self.store = store
        self._timer: asyncio.TimerHandle | None = None

    def load(self) -> bool:
        """Restore the store from the file; False when there is no file yet.

        Raises StateFileError naming the file when it cannot be read back.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        try:
            restore(self.store, json.loads(text, object_hook=_decode))
        except (ValueError, KeyError, TypeError, IndexError) as err:
            raise StateFileError(
                f"{self.path} is not a state file this emulator can read ({err}); "
                "move it away to start with no companies"
            ) from err
        return True

    def changed(self) -> None:
        """Note a change: the file is written `SAVE_DELAY_SECONDS` later (once for a burst).

        Without a running event loop it is written at once.
        """
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.save()
            return
        self._timer = loop.call_later(SAVE_DELAY_SECONDS, self.save)

    def save(self) -> None:
        """Write the store now: a temporary file (owner-only) renamed over the old one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(snapshot(self.store), default=_encode, separators=(",", ":"))
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
