"""Gateway webhooks in (``api.routes.webhooks``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

GatewayEventId = Annotated[
    str, Field(description="The gateway's event id", examples=["evt_1a2b3c"])
]


class WebhookReceiptOut(BaseModel):
    """The engine's answer to a gateway: the event is stored (and where it went)."""

    event_id: GatewayEventId
    status: str = Field(
        description="SIGNALLED, UNMATCHED, UNPARSEABLE or WORKFLOW_CLOSED", examples=["SIGNALLED"]
    )
