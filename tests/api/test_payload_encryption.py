"""Temporal holds no personal data in clear; operators read it through the codec endpoint."""

from __future__ import annotations

import base64
import uuid

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, fund, make_slot

EMAIL = "meera.private@example.com"
NAME = "Meera Privatename"


async def test_a_history_read_straight_from_temporal_holds_no_contact_data(
    api: httpx.AsyncClient, temporal: Client
) -> None:
    """The raw history (no codec) has neither the email nor the name; the codec reads them.

    The codec endpoint answers an operator (with the query the Temporal UI adds),
    refuses a customer (403) and a caller without a token (401).
    """
    customer = uuid.uuid4()
    slot = await make_slot(api, price=1_000)
    await fund(api, customer, 1_000)
    booked = await book(api, customer, slot["id"], contact={"email": EMAIL, "name": NAME})
    assert booked.status_code == 201, booked.text
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booked.json()['id']}")

    raw = await temporal.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=temporal.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
    )
    stored = raw.history.SerializeToString()
    started = raw.history.events[0].workflow_execution_started_event_attributes
    (payload,) = started.input.payloads

    assert EMAIL.encode() not in stored
    assert b"Privatename" not in stored
    assert payload.metadata["encoding"] == b"binary/encrypted"

    body = json_format.MessageToJson(started.input)
    # As the Temporal UI asks (it adds ?preserveStorageRefs=true).
    decoded = await api.post(
        "/codec/decode?preserveStorageRefs=true",
        content=body,
        headers={**OPERATOR, "Content-Type": "application/json"},
    )
    forbidden = await api.post(
        "/codec/decode",
        content=body,
        headers={**bearer(customer), "Content-Type": "application/json"},
    )
    anonymous = await api.post(
        "/codec/decode", content=body, headers={"Content-Type": "application/json"}
    )

    assert decoded.status_code == 200, decoded.text
    (clear,) = decoded.json()["payloads"]
    assert EMAIL in base64.b64decode(clear["data"]).decode()
    assert forbidden.status_code == 403
    assert anonymous.status_code == 401
