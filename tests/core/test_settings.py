"""Settings refuse to start the engine with a guessable or missing JWT secret."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from core.settings import Settings


@pytest.mark.parametrize("placeholder", ["changeme", "secret", "short-but-real"])
def test_placeholder_or_short_jwt_secret_is_rejected(placeholder: str) -> None:
    """A guessable JWT secret fails settings validation instead of signing tokens."""
    with pytest.raises(ValidationError):
        Settings(jwt_secret=SecretStr(placeholder))


def test_api_refuses_to_run_without_a_jwt_secret() -> None:
    """Outside `make dev`, a missing BOOKING_JWT_SECRET is a start-up error."""
    with pytest.raises(RuntimeError, match="BOOKING_JWT_SECRET"):
        Settings(_env_file=None).require_jwt_secret()
