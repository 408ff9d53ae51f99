"""Gateway webhooks in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api.deps import ServicesDep, VerifiersDep
from api.schemas import ErrorOut, WebhookReceiptOut
from api.services.webhooks import receive_webhook

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
    return await receive_webhook(services, verifiers, provider, body, request.headers)
