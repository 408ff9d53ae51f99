"""Temporal payloads encrypted with AES-256-GCM, so Temporal holds no personal data in clear.

Every client (API, worker, tests, bench) encodes with the first key of
``BOOKING_PAYLOAD_KEYS`` and decodes with any of them, chosen by the key id in
each payload's metadata, so keys rotate without a flag day: add the new key
first, keep the old one until no history needs it. Payloads that were never
encrypted decode as they are. Search attributes are not payloads: they stay in
clear and carry no PII.

Key format: ``id:base64key`` pairs, comma-separated; each key is 32 bytes.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """``BOOKING_PAYLOAD_KEYS`` is malformed, or a payload names a key we do not have."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """The keys of ``id:base64key,...`` in order (the first one encrypts).

    Raises:
        PayloadKeyError: An entry without an id, a key that is not base64, or not 32 bytes.
    """
    keys: dict[str, bytes] = {}
    for entry in (part.strip() for part in spec.split(",") if part.strip()):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id:
            raise PayloadKeyError("each payload key is 'id:base64key'")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise PayloadKeyError(f"payload key {key_id!r} is not base64") from None
        if len(key) != 32:
            raise PayloadKeyError(f"payload key {key_id!r} is not 32 bytes (AES-256)")
        keys[key_id] = key
    if not keys:
        raise PayloadKeyError("no payload key given")
    return keys


def new_key_spec(key_id: str = "k1") -> str:
    """A fresh ``id:base64key`` entry (what ``make dev`` generates)."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole payload; the key id travels in the metadata."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self._current = next(iter(keys))
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload with the current key."""
        cipher = self._ciphers[self._current]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: self._current.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt each encrypted payload with the key it names; others pass through.

        Raises:
            PayloadKeyError: A payload names a key this process does not have.
        """
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise PayloadKeyError(f"no payload key {key_id!r} to decrypt with")
            nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
            decoded.append(Payload.FromString(cipher.decrypt(nonce, sealed, None)))
        return decoded


# The encoding converters of the SDK's pydantic payload converter, built once.
_PYDANTIC_PARTS = tuple(PydanticPayloadConverter().converters.values())


class SharedPydanticConverter(PydanticPayloadConverter):
    """The SDK's pydantic payload converter, its parts built once per process.

    The SDK builds a new payload converter for every converter it derives (per
    workflow activation and per command with payloads, about 14 for a booking
    workflow), and each new pydantic one starts with an empty cache of type
    adapters, so every workflow built its own adapter for each payload type
    again. This one reuses the same stateless encoding converters, whose JSON
    converter's (thread-safe, bounded) adapter cache then lasts the process.
    """

    def __init__(self) -> None:
        CompositePayloadConverter.__init__(self, *_PYDANTIC_PARTS)


def data_converter(keys: str | None) -> DataConverter:
    """The engine's converter: pydantic, encrypted when keys are given."""
    return DataConverter(
        payload_converter_class=SharedPydanticConverter,
        payload_codec=EncryptionCodec(parse_keys(keys)) if keys else None,
    )
