"""Every example in the document validates against its schema.

That the live API accepts each request example: ``test_openapi_requests.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs


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
