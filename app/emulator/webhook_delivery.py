"""Sending webhook notifications as Intuit does: collected for a moment, one signed POST
per flush (grouped per realm), retried on any non-2xx answer or a 3-second silence
(`timeout_seconds`).

The dispatcher needs no task running in the background: the first change after a quiet
spell arms a timer on the running loop, so an app used in-process through
`httpx.ASGITransport` (no lifespan) delivers too. `flush()` sends at once, `aclose()`
(called by the app's lifespan) cancels timers and retries and closes the client.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from app.emulator.clock import Clock
from app.emulator.config import EmulatorConfig, WebhookConfig
from app.emulator.webhooks import (
    Notification,
    WebhookFormat,
    event_source,
    render_body,
    sign,
    utc_stamp,
)

logger = logging.getLogger(__name__)

Outcome = Literal["delivered", "failed", "dropped"]


@dataclass(frozen=True)
class Delivery:
    """One signed body, sent again unchanged (same signature, same event ids) on retry."""

    id: str
    url: str
    format: WebhookFormat
    body: bytes
    signature: str
    notifications: int


@dataclass
class DeliveryAttempt:
    """What happened when a delivery was tried (or dropped by `loss_rate`)."""

    delivery: Delivery
    attempt: int
    at: str
    outcome: Outcome
    status_code: int | None = None
    error: str | None = None
    retry_in_seconds: float | None = None

    def as_json(self) -> dict[str, Any]:
        delivery = self.delivery
        return {
            "delivery_id": delivery.id,
            "attempt": self.attempt,
            "time": self.at,
            "url": delivery.url,
            "format": delivery.format,
            "notifications": delivery.notifications,
            "outcome": self.outcome,
            "status_code": self.status_code,
            "error": self.error,
            "retry_in_seconds": self.retry_in_seconds,
            "signature": delivery.signature,
            "body": delivery.body.decode("utf-8"),
        }


class WebhookDispatcher:
    """Queues notifications and delivers them per the live `config.webhooks` settings.

    `transport` replaces the network (e.g. `httpx.ASGITransport(app=receiver)`); by
    default a real HTTP client is used. `rng` decides losses and shuffles.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        clock: Clock,
        rng: random.Random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._rng = rng
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # Set whenever an attempt is recorded, a timer fires or a task ends.
        self._progress = asyncio.Event()
        self.pending: list[Notification] = []
        self.attempts: list[DeliveryAttempt] = []

    @property
    def settings(self) -> WebhookConfig:
        """The webhook settings in force now (the admin API may replace them)."""
        return self._config.webhooks

    async def use_transport(self, transport: httpx.AsyncBaseTransport | None) -> None:
        """Send through `transport` from now on (None: the real network)."""
        await self._close_client()
        self._transport = transport

    def notify(self, notification: Notification) -> None:
        """Queue one change; ignored while no url is configured.

        Side effect: arms the aggregation timer when a loop is running (otherwise the
        change waits for `flush()`).
        """
        if self.settings.url is None:
            return
        self.pending.append(notification)
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(self.settings.aggregate_seconds, self._on_timer)

    def discard_pending(self) -> None:
        """Forget queued changes (after a reset); deliveries already made go on."""
        self._cancel_timer()
        self.pending.clear()

    async def flush(self) -> DeliveryAttempt | None:
        """Send what is queued now, skipping aggregation and `delay_seconds`.

        Returns the first attempt (a failure schedules retries), None when nothing was
        queued.
        """
        self._cancel_timer()
        delivery = self._take()
        if delivery is None:
            return None
        return await self._first_attempt(delivery, delay=0.0)

    async def wait_idle(self) -> None:
        """Wait until no timer, delivery or retry is outstanding (a receiver that keeps
        failing never lets this return: wrap it in `asyncio.timeout`)."""
        while self._timer is not None or self._tasks:
            await self._wait_progress()

    async def wait_for_attempts(self, count: int) -> list[DeliveryAttempt]:
        """Wait until at least `count` attempts are recorded; returns them all (wrap it
        in `asyncio.timeout`)."""
        while len(self.attempts) < count:
            await self._wait_progress()
        return list(self.attempts)

    async def _wait_progress(self) -> None:
        self._progress.clear()
        await self._progress.wait()

    async def aclose(self) -> None:
        """Cancel the timer and every delivery or retry in flight, close the client.

        Queued notifications stay queued.
        """
        self._cancel_timer()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._close_client()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._progress.set()

    def _on_timer(self) -> None:
        self._timer = None
        self._progress.set()
        delivery = self._take()
        if delivery is not None:
            self._spawn(self._first_attempt(delivery, self.settings.delay_seconds))

    def _take(self) -> Delivery | None:
        batch, self.pending = self.pending, []
        settings = self.settings
        if not batch or settings.url is None:
            return None
        if settings.reorder:
            self._rng.shuffle(batch)
        body = render_body(settings.format, batch, event_source(settings.verifier_token))
        return Delivery(
            id=uuid.uuid4().hex,
            url=settings.url,
            format=settings.format,
            body=body,
            signature=sign(body, settings.verifier_token),
            notifications=len(batch),
        )

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._progress.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("webhook delivery task failed", exc_info=exc)

    async def _first_attempt(self, delivery: Delivery, delay: float) -> DeliveryAttempt:
        if delay > 0:
            await asyncio.sleep(delay)
        loss_rate = self.settings.loss_rate
        if loss_rate > 0 and self._rng.random() < loss_rate:
            lost = DeliveryAttempt(
                delivery, 1, utc_stamp(self._clock.now()), "dropped", error="lost (loss_rate)"
            )
            self._record(lost)
            return lost
        return await self._attempt(delivery, 1)

    async def _retry(self, delivery: Delivery, number: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._attempt(delivery, number)

    async def _attempt(self, delivery: Delivery, number: int) -> DeliveryAttempt:
        at = utc_stamp(self._clock.now())
        deadline = self.settings.timeout_seconds
        status: int | None = None
        error: str | None = None
        try:
            # The whole exchange counts, not each phase as httpx's own timeouts do.
            async with asyncio.timeout(deadline):
                response = await self._http().post(
                    delivery.url,
                    content=delivery.body,
                    headers={
                        "content-type": "application/json",
                        "intuit-signature": delivery.signature,
                    },
                )
            status = response.status_code
        except TimeoutError:
            error = f"no answer within {deadline:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        attempt = DeliveryAttempt(
            delivery, number, at, "delivered" if ok else "failed", status, error
        )
        if not ok:
            attempt.retry_in_seconds = self.settings.retry_delay(number)
            self._spawn(self._retry(delivery, number + 1, attempt.retry_in_seconds))
        self._record(attempt)
        return attempt

    def _record(self, attempt: DeliveryAttempt) -> None:
        self.attempts.append(attempt)
        self._progress.set()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport)
        return self._client

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
