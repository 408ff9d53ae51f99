"""Timeouts, retry policies and failure classification of the booking workflow's steps.

Every step's failure is one of three kinds: a business outcome (an
``ApplicationError`` whose ``type`` is an :class:`ErrorCode`, non-retryable,
and the step changed nothing), a transient fault (retried with backoff, within
a bound), or a defect (non-retryable with any other type). Deterministic: no
I/O, safe inside the workflow sandbox.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from models.errors import CHARGE_REFUSED, ErrorCode

# The hold and the wallet debit decide what the caller hears, so they run as
# local activities: no task-queue round trip while the create call waits. Their
# bound is the create timeout (BookingPolicy.decision_timeout_seconds).
DECISION_ATTEMPT_TIMEOUT = timedelta(seconds=10)
DECISION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100), maximum_interval=timedelta(seconds=2)
)
# A step that must happen (a release, a refund, a confirmation, an audit row) is
# tried within BookingPolicy.step_bound_seconds while the saga (and maybe a
# caller or the change lock) waits: long enough to ride out a database or worker
# restart of a minute or two. Past it the step is kept as pending, shown to
# operators, and tried again in rounds of STEP_ROUND_BOUND on a backoff from
# PENDING_FIRST_RETRY to PENDING_RETRY_EVERY (pending_retry_after), at most
# PENDING_ROUNDS times (about a day), then only when an operator signals.
MUST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=10)
)
# One attempt of a must-happen step (a few statements): a worker that died in it
# is noticed after this long and the step is retried on another worker.
MUST_ATTEMPT_TIMEOUT = timedelta(seconds=10)
STEP_ROUND_BOUND = timedelta(minutes=2)
# A gateway refund is tried in line for at most this long: a gateway that keeps
# refusing is a third party's outage, and the cancel that waits for it answers
# with the refund OWED (retried from seconds) instead of waiting out the bound
# our own database and workers get.
GATEWAY_STEP_BOUND = timedelta(seconds=30)
# An alert row is best effort (the search attribute says it when the database is what
# fails): it is not held to the must-happen bound.
ALERT_ROW_BOUND = timedelta(seconds=25)
PENDING_FIRST_RETRY = timedelta(seconds=5)
PENDING_RETRY_EVERY = timedelta(minutes=15)
PENDING_ROUNDS = 104
# The patch that started the backoff from seconds (docs/determinism.md): workflows
# that parked a step before it keep their 15-minute rounds.
PENDING_BACKOFF_PATCH = "pending-steps-backoff-from-seconds"
# A refund the customer was told is owed mails them when its pending step goes through.
OWED_REFUND_MAIL_PATCH = "owed-refund-done-mail"
# A capture that an earlier run already refunded (a Reset replays its events) mails nothing.
EARLIER_REFUND_TOLD_PATCH = "earlier-refund-not-mailed-again"
MEETING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=2)
)
# Notifications are bounded by BookingPolicy.notify_timeout_seconds.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)
)
STEP_TIMEOUT = timedelta(seconds=30)


def within(policy: RetryPolicy, bound: timedelta) -> RetryPolicy:
    """``policy`` with as many attempts as its backoff fits into ``bound`` (at least one).

    A local activity's schedule-to-close timeout is the bound that matters, but
    it is measured by the worker; the attempt count bounds it a second time.
    """
    attempts, waited = 1, timedelta(0)
    interval = policy.initial_interval
    maximum = policy.maximum_interval or interval * 100
    while waited + interval <= bound:
        waited += interval
        attempts += 1
        interval = min(interval * policy.backoff_coefficient, maximum)
    return dataclasses.replace(policy, maximum_attempts=attempts)


def pending_retry_after(rounds: int) -> timedelta:
    """How long after ``rounds`` rounds a parked step is tried again: 5 s doubling to 15 min."""
    if rounds >= 8:  # 5 s * 2**8 is past the cap; no huge powers.
        return PENDING_RETRY_EVERY
    return min(PENDING_FIRST_RETRY * (1 << rounds), PENDING_RETRY_EVERY)


def gateway_retry(max_attempts: int) -> RetryPolicy:
    """Backoff for gateway calls, bounded so an outage ends in a clear failure."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=20),
        maximum_attempts=max_attempts,
    )


# Remote activities fail with ActivityError wrapping the cause; local
# activities surface the cause (ApplicationError, TimeoutError) directly.
ActivityFailure = (ActivityError, ApplicationError, ActivityTimeoutError)


def _application_error(err: BaseException) -> ApplicationError | None:
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause if isinstance(cause, ApplicationError) else None


def failure_reason(err: BaseException) -> ErrorCode:
    """The reason an activity failure gives the booking.

    A documented business refusal keeps its code; anything else non-retryable
    is INTERNAL; retries exhausted or timed out mean a dependency is down.
    """
    cause = _application_error(err)
    if cause is None or not cause.non_retryable:
        return ErrorCode.DEPENDENCY_UNAVAILABLE
    return ErrorCode.__members__.get(cause.type or "", ErrorCode.INTERNAL)


def failure_message(err: BaseException) -> str:
    """The words of an activity failure, for a caller or an operator (no stack)."""
    cause = _application_error(err) or (err.cause if isinstance(err, ActivityError) else err)
    return str(getattr(cause, "message", None) or cause or err)


def is_business_failure(err: BaseException) -> bool:
    """Whether the activity refused for a documented business reason (so it changed nothing)."""
    cause = _application_error(err)
    return cause is not None and cause.non_retryable and cause.type in ErrorCode.__members__


def refused_by_charge(err: BaseException) -> bool:
    """Whether ``decide_wallet`` refused at the debit, after its hold committed."""
    cause = _application_error(err)
    return is_business_failure(err) and cause is not None and CHARGE_REFUSED in cause.details


def refusal(code: ErrorCode, message: str) -> ApplicationError:
    """A business refusal of an update: its caller hears ``code``; the workflow goes on."""
    return ApplicationError(message, type=code.value, non_retryable=True)
