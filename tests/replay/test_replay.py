"""Recorded booking histories replay against the current workflow code without nondeterminism.

Regenerate after an intended, versioned change with:
``BOOKING_RECORD_HISTORIES=1 .venv/bin/pytest tests/workflows tests/api``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.codec import data_converter
from worker import SANDBOX
from workflows.booking import BookingWorkflow

from support.auth import PAYLOAD_KEYS

HISTORIES = Path(__file__).parent / "histories"
EXPECTED = {
    "wallet_confirmed",
    "wallet_confirmed_update_with_start",
    "wallet_insufficient_funds",
    "wallet_insufficient_funds_update_with_start",
    "meeting_alert_then_retry",
    "gateway_expired",
    "gateway_failed_then_confirmed",
    "gateway_confirmed_update_with_start",
    "wallet_cancelled",
    "gateway_cancel_racing_payment",
    "wallet_cancelled_faked",
    "wallet_rescheduled_twice",
}


def test_every_path_has_a_recorded_history() -> None:
    """The wallet, gateway, refused, expired, meeting-alert, cancel and move paths have one."""
    assert {p.stem for p in HISTORIES.glob("*.json")} >= EXPECTED


@pytest.mark.parametrize(
    ("name", "recorded"),
    [(p.stem, p.read_text()) for p in sorted(HISTORIES.glob("*.json"))],
    ids=lambda value: value if len(value) < 80 else "",
)
async def test_history_replays(name: str, recorded: str) -> None:
    """Replaying the recorded history with today's code raises no nondeterminism error."""
    history = WorkflowHistory.from_json(f"replay-{name}", recorded)
    replayer = Replayer(
        workflows=[BookingWorkflow],
        data_converter=data_converter(PAYLOAD_KEYS),
        workflow_runner=SANDBOX,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
