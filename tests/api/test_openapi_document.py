"""The API document a frontend builds on, and its pages without internet.

Every field described with an example, every error in the envelope, required
headers marked required, /docs and /redoc served from the API's own assets.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from support.auth import bearer

IDEMPOTENT = [
    ("post", "/v1/bookings"),
    ("post", "/v1/wallets/me/topups"),
    ("post", "/v1/wallets/{customer_id}/credits"),
    ("post", "/v1/ops/bookings/{booking_id}/refund"),
]


async def _document(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _is_object(prop: dict[str, Any]) -> bool:
    """A property whose value is another schema (which describes its own fields)."""
    if "$ref" in prop:
        return True
    options = prop.get("anyOf", []) + prop.get("allOf", [])
    if any("$ref" in option for option in options):
        return True
    items = prop.get("items", {})
    return "$ref" in items or (prop.get("type") == "object" and "examples" not in prop)


async def test_every_field_has_a_description_and_every_value_an_example(
    api: httpx.AsyncClient,
) -> None:
    """No field is left for a frontend developer to guess (nested objects describe theirs)."""
    schemas = (await _document(api))["components"]["schemas"]
    undescribed, unexampled = [], []
    for name, schema in schemas.items():
        for field, prop in schema.get("properties", {}).items():
            if not prop.get("description"):
                undescribed.append(f"{name}.{field}")
            if not _is_object(prop) and not (prop.get("examples") or "example" in prop):
                unexampled.append(f"{name}.{field}")

    assert undescribed == []
    assert unexampled == []


async def test_every_operation_documents_its_errors_in_the_envelope(
    api: httpx.AsyncClient,
) -> None:
    """Each error response is ErrorOut with an example per code; FastAPI's own shape is gone."""
    document = await _document(api)
    text = str(document)
    create = document["paths"]["/v1/bookings"]["post"]["responses"]
    resources = document["paths"]["/v1/resources"]["post"]["responses"]

    assert "HTTPValidationError" not in text
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" in responses, (method, path)
            for status, response in responses.items():
                if int(status) >= 400:
                    content = response["content"]["application/json"]
                    assert content["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
                    assert content["examples"], (method, path, status)
    assert set(create) >= {"201", "401", "402", "404", "409", "422", "429", "503"}
    assert set(create["409"]["content"]["application/json"]["examples"]) == {
        "SLOT_UNAVAILABLE",
        "IDEMPOTENCY_KEY_IN_USE",
    }
    assert "403" in resources


async def test_idempotency_key_is_required_where_it_is(api: httpx.AsyncClient) -> None:
    """Marked required in the document; a request without it is 422 naming the header."""
    document = await _document(api)
    missing = await api.post(
        "/v1/bookings",
        json={"slot_id": str(uuid.uuid4()), "payment": {"method": "wallet"}},
        headers=bearer(uuid.uuid4()),
    )

    for method, path in IDEMPOTENT:
        parameters = document["paths"][path][method]["parameters"]
        (key,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
        assert key["required"] is True, path
    assert missing.status_code == 422
    assert missing.json()["error"]["message"].startswith("header.Idempotency-Key")


async def test_docs_and_redoc_load_only_what_the_api_serves(api: httpx.AsyncClient) -> None:
    """No CDN: the pages reference /docs-assets only, and those assets are served."""
    pages = {path: (await api.get(path)).text for path in ("/docs", "/redoc")}
    referenced = {
        url for page in pages.values() for url in re.findall(r'(?:src|href)="([^"]+)"', page)
    }

    assert referenced
    assert all(url.startswith("/docs-assets/") for url in referenced), referenced
    assert "fonts.googleapis.com" not in pages["/redoc"]
    for url in referenced:
        asset = await api.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
