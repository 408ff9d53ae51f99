"""Gateway webhooks in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api.deps import ServicesDep, VerifiersDep
from api.metrics import WEBHOOKS
from api.schemas.common import ErrorOut
from api.schemas.webhooks import WebhookReceiptOut
from api.services.webhooks import receive_webhook
from models.errors import BookingError

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post(
    "/{provider}",
    response_model=WebhookReceiptOut,
    responses={400: {"model": ErrorOut}, 413: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
async def webhook(
    request: Request,
    provider: Annotated[str, Path(pattern=r"^[a-z]{1,32}$")],
    services: ServicesDep,
    verifiers: VerifiersDep,
) -> WebhookReceiptOut:
    """Verify the raw body's signature, store the event once, signal the booking."""
    body = await request.body()
    # Only configured providers name a series: a made-up path cannot grow the label set.
    label = provider if provider in verifiers else "unknown"
    try:
        receipt = await receive_webhook(services, verifiers, provider, body, request.headers)
    except BookingError as err:
        WEBHOOKS.labels(label, err.code.value.lower()).inc()
        raise
    WEBHOOKS.labels(label, receipt.status.lower()).inc()
    return receipt
