"""Every activity failure is one of three kinds, decided in one place.

    business outcome   ApplicationError(type=<ErrorCode>, non_retryable=True),
                       raised by the activity itself: the step changed nothing
    transient fault    a dependency is down or slow (connection, timeout, a
                       retryable ApplicationError; a database outage by its
                       cause, ``core.db.outage_cause``): retried with backoff,
                       within the step's bound
    defect or poison   anything else (a value PostgreSQL refuses, a bug):
                       non-retryable at once, so it never loops while it holds
                       a slot, a lock or a waiting caller

:class:`FailureClassifier` is a worker interceptor that applies this to every
activity, so no activity has to remember to.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from core.db import outage_cause

# The ApplicationError type of a defect or poison input.
DEFECT = "DEFECT"

# OSError covers lost connections and timeouts (TimeoutError, ConnectionError).
_TRANSIENT = (OperationalError, InterfaceError, OSError)


def classify(exc: BaseException) -> BaseException:
    """The failure Temporal should see for ``exc``: itself, or a non-retryable defect."""
    if isinstance(exc, ApplicationError | asyncio.CancelledError):
        return exc
    if outage_cause(exc) is not None or isinstance(exc, _TRANSIENT):
        return exc
    # The message names the exception type only: its text may quote the input.
    return ApplicationError(
        f"{type(exc).__name__} in activity {activity.info().activity_type}",
        type=DEFECT,
        non_retryable=True,
    )


class _Classify(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except Exception as exc:
            classified = classify(exc)
            if classified is exc:
                raise
            # The frames, for whoever fixes it; not the message, which may quote the input.
            activity.logger.error(
                "activity failed with a defect: %s\n%s",
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            raise classified from None


class FailureClassifier(Interceptor):
    """Worker interceptor: defects and poison inputs fail their activity at once."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap every activity of the worker."""
        return _Classify(next)
