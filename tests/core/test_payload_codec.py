"""The payload codec: AES-256-GCM, the key id in the metadata, rotation without a flag day."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload

from core.codec import ENCODING, EncryptionCodec, PayloadKeyError, new_key_spec, parse_keys

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email": "asha@example.com"}')


async def test_encoded_payloads_hide_their_data_and_decode_back() -> None:
    """Encryption hides the bytes, names its key, and decodes to the same payload."""
    codec = EncryptionCodec(parse_keys(new_key_spec("k1")))

    (sealed,) = await codec.encode([PLAIN])
    (opened,) = await codec.decode([sealed])

    assert b"asha" not in sealed.SerializeToString()
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert opened == PLAIN


async def test_a_rotated_key_set_still_reads_what_the_old_key_wrote() -> None:
    """New key first, old key kept: old payloads decode, new ones use the new key."""
    old = new_key_spec("k1")
    before = EncryptionCodec(parse_keys(old))
    after = EncryptionCodec(parse_keys(f"{new_key_spec('k2')},{old}"))

    (written_before,) = await before.encode([PLAIN])
    (written_after,) = await after.encode([PLAIN])

    assert await after.decode([written_before]) == [PLAIN]
    assert written_after.metadata["encryption-key-id"] == b"k2"
    with pytest.raises(PayloadKeyError, match="k2"):
        await before.decode([written_after])


async def test_payloads_that_were_never_encrypted_pass_through() -> None:
    """Histories from before encryption still decode: clear payloads come back as they are."""
    codec = EncryptionCodec(parse_keys(new_key_spec()))

    assert await codec.decode([PLAIN]) == [PLAIN]


async def test_a_tampered_payload_does_not_decrypt() -> None:
    """GCM authenticates: one flipped byte and decryption refuses."""
    codec = EncryptionCodec(parse_keys(new_key_spec()))
    (sealed,) = await codec.encode([PLAIN])
    data = bytearray(sealed.data)
    data[-1] ^= 1
    sealed.data = bytes(data)

    with pytest.raises(InvalidTag):
        await codec.decode([sealed])


@pytest.mark.parametrize(
    "spec", ["", "nokey", ":" + "A" * 43 + "=", "k1:not base64!", "k1:" + "A" * 20 + "=="]
)
def test_malformed_key_settings_are_refused_at_start(spec: str) -> None:
    """No key, no id, not base64, or not 32 bytes: a clear error, never a weak key."""
    with pytest.raises(PayloadKeyError):
        parse_keys(spec)


def test_every_converter_the_sdk_builds_shares_one_cache_of_type_adapters() -> None:
    """The SDK builds a converter per activation and command; each finds the adapters made."""
    from core.codec import SharedPydanticConverter, data_converter
    from models.payloads import CancelInput

    first, second = SharedPydanticConverter(), SharedPydanticConverter()
    request = CancelInput(actor="customer", reason="plans changed")

    decoded = second.from_payloads(first.to_payloads([request]), [CancelInput])
    json_plain = first.converters[b"json/plain"]

    assert data_converter(new_key_spec("k1")).payload_converter_class is SharedPydanticConverter
    assert decoded == [request]
    assert first is not second
    assert second.converters[b"json/plain"] is json_plain
    assert json_plain._type_adapter.cache_info().currsize >= 1  # type: ignore[attr-defined]
