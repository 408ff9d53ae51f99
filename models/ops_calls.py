"""The operator calls that the engine names to people, in one place.

A booking's current details in the Temporal UI tell an operator which call
resolves what it waits for. The words come from here, and a test holds each
path against the API's routes, so what an operator is told to call exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class OpsCall:
    """An ops API call on one booking, and the workflow signal that does the same (if any)."""

    path: str
    signal: str

    def words(self, booking_id: uuid.UUID) -> str:
        """The call in words for a booking: ``POST <path> (or the <signal> signal)``."""
        call = f"POST {self.path.format(booking_id=booking_id)}"
        return f"{call} (or the {self.signal} signal)" if self.signal else call


RETRY_MEETING = OpsCall("/v1/ops/bookings/{booking_id}/retry-meeting", "retry_meeting")
RETRY_PENDING_STEPS = OpsCall(
    "/v1/ops/bookings/{booking_id}/retry-pending-steps", "retry_pending_steps"
)
# A booking whose workflow is gone has no signal: the API call alone finishes it.
RECOVER = OpsCall("/v1/ops/bookings/{booking_id}/recover", "")
OPS_CALLS = (RETRY_MEETING, RETRY_PENDING_STEPS, RECOVER)
