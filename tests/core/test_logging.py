"""Failed activity attempts log one line each: no traceback flood, no local variables."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from core.logging import configure_logging
from core.settings import Settings


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    activity_log = logging.getLogger("temporalio.activity")
    filters = activity_log.filters[:]
    yield
    root.handlers[:], activity_log.filters[:] = handlers, filters
    root.setLevel(level)
    structlog.reset_defaults()


def _fail_with(secret: str) -> BaseException:
    try:
        contact = {"name": secret}  # noqa: F841 - a local a rich traceback would print
        raise ConnectionError("refund answered 503")
    except ConnectionError as exc:
        return exc


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_failed_activity_attempt_is_one_line_without_its_traceback(
    capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    """The SDK's per-attempt warning keeps its line, loses its traceback and locals."""
    configure_logging(Settings(env="test", log_format=log_format))
    error = _fail_with("Priya Secret")
    logging.getLogger("temporalio.activity").warning(
        "Completing activity as failed", exc_info=error
    )
    logging.getLogger("booking.elsewhere").error("a bug elsewhere", exc_info=error)

    err = capsys.readouterr().err
    attempt, elsewhere = err.split("a bug elsewhere")
    assert "Completing activity as failed" in attempt
    assert "Traceback" not in attempt
    assert "Priya Secret" not in err
    # Other loggers keep their traceback (plain frames: no locals).
    assert "ConnectionError" in elsewhere
