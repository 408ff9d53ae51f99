"""The ops calls a booking's current details name are routes the API serves."""

from __future__ import annotations

import uuid

import httpx

from models.ops_calls import OPS_CALLS, RETRY_MEETING


async def test_every_ops_call_named_to_operators_is_a_post_route(api: httpx.AsyncClient) -> None:
    """Each path in models.ops_calls is a POST operation of the OpenAPI document."""
    paths = (await api.get("/openapi.json")).json()["paths"]
    for call in OPS_CALLS:
        assert "post" in paths.get(call.path, {}), call.path


def test_the_words_name_the_booking_and_the_signal() -> None:
    """An operator reads the call with the booking's id filled in, and its signal twin."""
    booking_id = uuid.UUID("6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f")
    assert RETRY_MEETING.words(booking_id) == (
        f"POST /v1/ops/bookings/{booking_id}/retry-meeting (or the retry_meeting signal)"
    )
