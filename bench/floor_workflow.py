"""The floor's workflow, in its own module so the workflow sandbox imports little."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from temporalio import workflow


class FloorInput(BaseModel):
    """What the floor workflow starts with (shaped like a booking request)."""

    booking_id: uuid.UUID
    slot_id: uuid.UUID


class FloorResult(BaseModel):
    """What the ``create`` update answers."""

    booking_id: uuid.UUID
    status: str


@workflow.defn
class FloorWorkflow:
    """Nothing but an update that returns at once; the workflow then completes."""

    @workflow.init
    def __init__(self, request: FloorInput) -> None:
        self._request = request

    @workflow.run
    async def run(self, request: FloorInput) -> FloorResult:
        """Complete immediately."""
        return FloorResult(booking_id=request.booking_id, status="CONFIRMED")

    @workflow.update
    async def create(self) -> FloorResult:
        """Answer at once."""
        return FloorResult(booking_id=self._request.booking_id, status="CONFIRMED")
