"""The Temporal codec endpoint: operators (and the Temporal UI) read decrypted payloads.

Temporal's remote-codec protocol: ``POST /codec/decode`` and ``/codec/encode``
with ``{"payloads": [...]}`` in protobuf JSON. Operators only; in ``make dev``
(``BOOKING_ENV=dev``) a caller on this machine needs no token, so the local
Temporal UI can decode without a login of its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.deps import ServicesDep, bearer_scheme, current_principal
from models.errors import BookingError, ErrorCode

router = APIRouter(prefix="/codec", tags=["operators"])
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


async def codec_caller(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """An operator, or in ``make dev`` anyone on this machine."""
    if credentials is None and services.settings.env == "dev" and _from_this_machine(request):
        return
    user = await current_principal(request, services, credentials)
    if not user.is_operator:
        raise BookingError(ErrorCode.FORBIDDEN, "Operators only.")


def _from_this_machine(request: Request) -> bool:
    """Whether the connection's peer is this machine and speaks for itself.

    Only the peer address counts, never a header. A server that trusts
    forwarding headers from a loopback proxy (uvicorn does by default) reports
    the header's address as the client, so a request that carries one is not
    taken as local whatever address it names: it came through a proxy, for
    someone else.
    """
    if any(name in request.headers for name in _FORWARDING_HEADERS):
        return False
    return request.client is not None and request.client.host in _LOOPBACK


async def _payloads(request: Request) -> Payloads:
    try:
        return json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError:
        raise BookingError(ErrorCode.VALIDATION_ERROR, "payloads: not Temporal payloads") from None


def _out(payloads: list[Any]) -> dict[str, Any]:
    message = Payloads(payloads=payloads)
    out: dict[str, Any] = json_format.MessageToDict(message)
    return out


# The body is read raw (protobuf JSON), so the document is told its shape here: a list of
# payloads, each bytes in base64 (standard or URL-safe, padding optional: what protobuf's
# JSON parser reads; anything else is refused, 422);
# a field left out or null (``{}``, ``"data": null``) is its default, as protobuf reads it.
_BASE64 = {
    "type": "string",
    "contentEncoding": "base64",
    "pattern": r"^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$",
    "description": "Bytes, base64, standard or URL-safe, padding optional",
}
PAYLOADS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "Temporal payloads in protobuf JSON",
                    "properties": {
                        "payloads": {
                            "type": ["array", "null"],
                            "items": {
                                "type": "object",
                                "properties": {
                                    "metadata": {
                                        "type": ["object", "null"],
                                        "additionalProperties": _BASE64,
                                    },
                                    "data": {**_BASE64, "type": ["string", "null"]},
                                },
                                "additionalProperties": False,
                            },
                        }
                    },
                    "additionalProperties": False,
                },
                "examples": {
                    "json": {
                        "summary": 'One JSON payload: {"status": "CONFIRMED"}',
                        "value": {
                            "payloads": [
                                {
                                    "metadata": {"encoding": "anNvbi9wbGFpbg=="},
                                    "data": "eyJzdGF0dXMiOiAiQ09ORklSTUVEIn0=",
                                }
                            ]
                        },
                    }
                },
            }
        },
    }
}


# The Temporal UI asks with ``?preserveStorageRefs=true`` (payloads kept in external
# storage stay references); the engine stores none, so it changes nothing here.
PreserveStorageRefs = Annotated[bool | None, Query(alias="preserveStorageRefs")]


@router.post("/decode", dependencies=[Depends(codec_caller)], openapi_extra=PAYLOADS_BODY)
async def decode(
    request: Request, services: ServicesDep, _refs: PreserveStorageRefs = None
) -> dict[str, Any]:
    """Decrypt payloads (those not encrypted come back as they are)."""
    payloads = list((await _payloads(request)).payloads)
    return _out(payloads if services.codec is None else await services.codec.decode(payloads))


@router.post("/encode", dependencies=[Depends(codec_caller)], openapi_extra=PAYLOADS_BODY)
async def encode(
    request: Request, services: ServicesDep, _refs: PreserveStorageRefs = None
) -> dict[str, Any]:
    """Encrypt payloads with the current key."""
    payloads = list((await _payloads(request)).payloads)
    return _out(payloads if services.codec is None else await services.codec.encode(payloads))
