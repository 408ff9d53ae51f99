"""Recorded booking histories replay against the current workflow code without nondeterminism.

A recorded history is a contract with the workflows in flight: it is never
edited or re-recorded. A new path gets a new history beside the old ones
(``BOOKING_RECORD_HISTORIES=1 .venv/bin/pytest tests/workflows tests/api``
records them all: keep only the new files; see docs/determinism.md).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.codec import data_converter
from worker import SANDBOX
from workflows.booking import BookingWorkflow

from support.auth import PAYLOAD_KEYS

HISTORIES = Path(__file__).parent / "histories"
# Histories of saga version 1 (hold and debit as two steps), kept for the workflows
# started before version 2 that may still be open (docs/determinism.md).
V1 = HISTORIES / "v1"
# Histories recorded before decide_wallet tried the confirmation mail itself: their
# mail is a step after the decision, as it stays for workflows that recorded it.
MAIL_AS_STEP = HISTORIES / "mail-as-step"
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
WALLET = sorted(name for name in EXPECTED if name.startswith("wallet_"))


def _recorded() -> list[tuple[str, str]]:
    return [
        (str(p.relative_to(HISTORIES).with_suffix("")), p.read_text())
        for p in sorted(HISTORIES.rglob("*.json"))
    ]


def test_every_path_has_a_recorded_history_in_each_saga_version() -> None:
    """The wallet, gateway, refused, expired, meeting-alert, cancel and move paths have one."""
    assert {p.stem for p in HISTORIES.glob("*.json")} >= EXPECTED
    assert {p.stem for p in V1.glob("*.json")} >= EXPECTED


def _activity_types(path: Path) -> list[str]:
    """The activities a recorded history ran, local (from their markers) and remote."""
    types = []
    for event in json.loads(path.read_text())["events"]:
        if "activityTaskScheduledEventAttributes" in event:
            types.append(event["activityTaskScheduledEventAttributes"]["activityType"]["name"])
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_local_activity":
            data = marker["details"]["data"]["payloads"][0]["data"]
            types.append(json.loads(base64.b64decode(data))["activity_type"])
    return types


@pytest.mark.parametrize("name", WALLET)
def test_wallet_histories_are_of_the_version_they_stand_for(name: str) -> None:
    """Version 2 decides in one step; version 1's hold and debit are two."""
    current = _activity_types(HISTORIES / f"{name}.json")
    earlier = _activity_types(V1 / f"{name}.json")
    assert current[0] == "decide_wallet", current
    assert "hold_slot" not in current
    assert "charge_wallet" not in current
    assert earlier[:2] == ["hold_slot", "charge_wallet"], earlier


@pytest.mark.parametrize(
    ("name", "recorded"), _recorded(), ids=lambda value: value if len(value) < 80 else ""
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


@pytest.mark.parametrize("path", sorted(MAIL_AS_STEP.glob("*.json")), ids=lambda p: p.stem)
def test_a_confirmation_sent_by_the_decision_is_not_sent_again(path: Path) -> None:
    """Today the decision sends it; before, a mail step followed it, and all else is the same."""
    current = _activity_types(HISTORIES / path.name)
    earlier = _activity_types(path)
    assert earlier[:2] == ["decide_wallet", "send_notification"], earlier
    assert current == earlier[:1] + earlier[2:], current
