"""Waiting on a booking workflow's own account of itself (its ``state`` query)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle

from models.payloads import BookingState
from workflows.booking import BookingWorkflow


async def until_state(
    handle: WorkflowHandle[Any, Any],
    predicate: Callable[[BookingState], bool],
    *,
    within: float = 30.0,
) -> BookingState:
    """Ask the workflow for its state until ``predicate`` holds; the worker answers each query.

    Raises:
        TimeoutError: The state never satisfied ``predicate`` within ``within`` seconds.
    """
    async with asyncio.timeout(within):
        while True:
            state: BookingState = await handle.query(BookingWorkflow.state)
            if predicate(state):
                return state
            await asyncio.sleep(0.05)


def settled(status: str) -> Callable[[BookingState], bool]:
    """The booking is ``status`` and its steps are done (it waits for events or its end)."""
    return lambda state: state.status == status and state.idle


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    """The current details the Temporal UI shows for the workflow, as it set them."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return str(metadata.current_details)


async def until_details(
    handle: WorkflowHandle[Any, Any], predicate: Callable[[str], bool], *, within: float = 30.0
) -> str:
    """Ask for the current details until ``predicate`` holds (the worker answers each query).

    Raises:
        TimeoutError: The details never satisfied ``predicate`` within ``within`` seconds.
    """
    async with asyncio.timeout(within):
        while True:
            details = await current_details(handle)
            if predicate(details):
                return details
