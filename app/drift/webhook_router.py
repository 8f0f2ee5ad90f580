"""`POST /webhooks/intuit`: verify, store, answer. The work happens in a job, never here,
so Intuit gets its 200 well within 3 seconds."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from pydantic import BaseModel

from app.deps import ConnectionDep, SettingsDep, UnitOfWorkDep
from app.drift.intuit import SIGNATURE_HEADER, MalformedNotification, parse, verify
from app.drift.models import FoundBy
from app.drift.sightings import store_sightings
from app.errors import AppError, NotAuthenticated, problem_responses

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks", tags=["webhooks"])
# Its body limit is WEBHOOK_MAX_BODY_BYTES, sized for Intuit's deliveries (app.main).
INTUIT_PATH = "/webhooks/intuit"


class MalformedBody(AppError):
    status, type_, title = 400, "malformed-notification", "Not a webhook delivery"


class WebhookNotConfigured(AppError):
    """No QBO_WEBHOOK_VERIFIER_TOKEN: no delivery can be verified, so none is authenticated
    (401). Its own `type` tells ops that the server's configuration, not the sender, is at
    fault; it is not a 5xx, which would be a server error. Intuit retries a non-2xx answer
    on its schedule, so deliveries sent meanwhile arrive once the token is set
    (https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks/best-practices)."""

    status, type_, title = 401, "webhook-not-configured", "Webhooks are not configured"


class WebhookAccepted(BaseModel):
    received: int  # changes in the delivery
    new: int  # not seen before (the rest were duplicates)


@router.post(
    "/intuit",
    response_model=WebhookAccepted,
    responses=problem_responses(400, 401, 413),
    summary="Intuit's change notifications (legacy or CloudEvents)",
)
async def intuit_webhook(
    request: Request,
    settings: SettingsDep,
    connection: ConnectionDep,
    uow: UnitOfWorkDep,
) -> WebhookAccepted:
    """No API key: the `intuit-signature` header (Base64 HMAC-SHA256 of the raw body with
    QBO_WEBHOOK_VERIFIER_TOKEN) is the proof, checked before the body is parsed: 401 when
    it is missing or wrong, or while no verifier token is configured
    (`webhook-not-configured`). Duplicate
    deliveries are acknowledged and dropped."""
    token = settings.qbo_webhook_verifier_token
    if token is None:
        logger.warning("webhook refused: QBO_WEBHOOK_VERIFIER_TOKEN is not set")
        raise WebhookNotConfigured(
            "QBO_WEBHOOK_VERIFIER_TOKEN is not set, so no delivery can be verified"
        )
    body = await request.body()
    if not verify(body, request.headers.get(SIGNATURE_HEADER), token.get_secret_value()):
        logger.warning("webhook refused: missing or bad %s", SIGNATURE_HEADER)
        raise NotAuthenticated("missing or invalid intuit-signature")
    try:
        sightings = parse(body)
    except MalformedNotification as err:
        raise MalformedBody(str(err)) from None
    realms = await store_sightings(connection, sightings, FoundBy.WEBHOOK.value)
    uow.hint_changes(realms)
    return WebhookAccepted(received=len(sightings), new=len(realms))
