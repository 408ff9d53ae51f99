"""Recording workflow histories for the replay tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

HISTORIES = Path(__file__).parent.parent / "replay" / "histories"


def without_stack_traces(value: Any) -> Any:
    """A history with failure stack traces emptied: they name this machine's paths."""
    if isinstance(value, dict):
        return {k: "" if k == "stackTrace" else without_stack_traces(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_stack_traces(v) for v in value]
    return value


async def record_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With BOOKING_RECORD_HISTORIES set, keep this run's history for the replay tests."""
    if os.environ.get("BOOKING_RECORD_HISTORIES"):
        history = await handle.fetch_history()
        HISTORIES.mkdir(parents=True, exist_ok=True)
        pretty = json.dumps(without_stack_traces(json.loads(history.to_json())), indent=1)
        (HISTORIES / f"{name}.json").write_text(pretty + "\n")
