"""Every example in the document validates against its schema, and the live API accepts them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs

from support.auth import bearer
from support.catalog import fund, make_slot


def _examples(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every media-type example and named example."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            contents = [("request", operation.get("requestBody", {}).get("content", {}))]
            contents += [
                (status, response.get("content", {}))
                for status, response in operation["responses"].items()
            ]
            for where, content in contents:
                for media, body in content.items():
                    label = f"{method.upper()} {path} {where} {media}"
                    if "example" in body:
                        yield label, body["schema"], body["example"]
                    for name, named in body.get("examples", {}).items():
                        yield f"{label} {name}", body["schema"], named["value"]


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})


async def test_every_example_validates_against_its_schema(api: httpx.AsyncClient) -> None:
    """A generated client's models parse each example the document shows."""
    document = (await api.get("/openapi.json")).json()
    checked, wrong = 0, []
    for where, schema, example in _examples(document):
        errors = [e.message for e in _validator(document, schema).iter_errors(example)]
        checked += 1
        if errors:
            wrong.append((where, errors[:2]))

    assert checked > 100
    assert wrong == []


async def test_the_create_booking_examples_are_accepted_by_the_live_api(
    api: httpx.AsyncClient,
) -> None:
    """Each request example of POST /v1/bookings, with real ids, gets a documented answer."""
    document = (await api.get("/openapi.json")).json()
    create = document["paths"]["/v1/bookings"]["post"]
    examples = create["requestBody"]["content"]["application/json"]["examples"]
    documented = set(create["responses"])
    customer = uuid.uuid4()
    await fund(api, customer, 10_000_000)

    statuses = {}
    for name, example in examples.items():
        slot = await make_slot(api)
        body = dict(example["value"])
        if "slot_id" in body:
            body["slot_id"] = slot["id"]
        if "resource_id" in body:
            body["resource_id"] = slot["resource_id"]
        answer = await api.post(
            "/v1/bookings",
            json=body,
            headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
        )
        statuses[name] = answer.status_code
        assert str(answer.status_code) in documented, (name, answer.text)
        if answer.status_code == 201:
            booking = answer.json()
            answer_schema = create["responses"]["201"]["content"]["application/json"]["schema"]
            assert _validator(document, answer_schema).is_valid(booking)

    assert statuses["wallet"] == 201
    # The suite allows no browser origin: the return URL is refused, in the envelope.
    assert statuses["gateway"] == 422
    # A slot resource cannot be booked by range: a documented refusal, not a 5xx.
    assert statuses["range"] < 500
