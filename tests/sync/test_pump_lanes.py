"""The realm's job ends with all of its lanes: one lane failing stops the others, so none
keeps working for a job that has ended (on a worker that may have closed its connections)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from app.sync import pump
from app.sync.deps import SyncDeps


class LaneFailed(Exception):
    pass


async def test_a_failing_lane_stops_the_other_lanes(monkeypatch: pytest.MonkeyPatch) -> None:
    started = 0
    cancelled = 0
    finished = 0

    async def prefill(self: Any) -> None:
        return None

    async def single_lane(self: Any) -> None:
        nonlocal started, cancelled, finished
        started += 1
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        finished += 1

    async def batch_lane(self: Any) -> None:
        await asyncio.sleep(0)
        raise LaneFailed("QBO answer could not be stored")

    monkeypatch.setattr(pump._Pump, "prefill", prefill)
    monkeypatch.setattr(pump._Pump, "single_lane", single_lane)
    monkeypatch.setattr(pump._Pump, "batch_lane", batch_lane)
    settings = SimpleNamespace(qbo_limit_in_flight=4, qbo_batch_size=30)
    deps = cast(SyncDeps, SimpleNamespace(settings=settings, redis=None))

    with pytest.raises(LaneFailed):
        await pump.pump_realm(deps, "9130000000000001")
    await asyncio.sleep(0.7)  # long enough for a lane left running to finish

    assert started == 3
    assert cancelled == 3
    assert finished == 0
