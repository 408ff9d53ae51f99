"""The booking saga: hold, pay, confirm, meeting link, notify; compensate in reverse."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.meetings import MeetingActivities
    from activities.notifications import NotificationActivities
    from activities.slots import SlotActivities
    from activities.wallet import WalletActivities
    from core.errors import ErrorCode
    from models.flow import (
        BookingInput,
        BookingResult,
        BookingState,
        BookingStatus,
        ChargeWalletInput,
        CreateResult,
        Hold,
        HoldInput,
        MeetingInput,
        MeetingRecordInput,
        MeetingStatus,
        NotificationKind,
        NotifyInput,
        RefundWalletInput,
        ReleaseInput,
    )

BOOKING_STATUS = SearchAttributeKey.for_keyword("BookingStatus")
BOOKING_ID = SearchAttributeKey.for_keyword("BookingId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
RESOURCE_ID = SearchAttributeKey.for_keyword("ResourceId")
PAYMENT_PROVIDER = SearchAttributeKey.for_keyword("PaymentProvider")
PAYMENT_DEADLINE = SearchAttributeKey.for_datetime("PaymentDeadline")

# The hold and the wallet debit decide what the caller hears, so they run as
# local activities: no task-queue round trip while the create call waits.
DECISION_ATTEMPT_TIMEOUT = timedelta(seconds=10)
DECISION_TIMEOUT = timedelta(seconds=30)
DECISION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100), maximum_interval=timedelta(seconds=2)
)
# Compensations must eventually happen, so they retry without a bound.
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)
MEETING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=2)
)
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5)
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


def is_business_failure(err: BaseException) -> bool:
    """Whether the activity refused for a documented business reason (so it changed nothing)."""
    cause = _application_error(err)
    return cause is not None and cause.non_retryable and cause.type in ErrorCode.__members__


@workflow.defn
class BookingWorkflow:
    """One booking, from hold to the end of its slot.

    The ``create`` update (sent with Update-with-Start) returns as soon as the
    hold and payment are decided; the rest (meeting link, notification) runs
    after the caller has its answer. The workflow stays open until the slot
    ends so operators can retry a missing meeting link.
    """

    @workflow.init
    def __init__(self, request: BookingInput) -> None:
        self._request = request
        self._status: BookingStatus | None = None
        self._reason: str | None = None
        self._decision: CreateResult | None = None
        self._meeting_status = MeetingStatus.PENDING
        self._meeting_retry_requested = False

    @workflow.run
    async def run(self, request: BookingInput) -> BookingResult:
        """Drive the booking through its lifecycle."""
        workflow.set_current_details("placing a hold on the slot")
        try:
            hold = await workflow.execute_local_activity_method(
                SlotActivities.hold_slot,
                HoldInput(
                    booking_id=request.booking_id,
                    customer_id=request.customer_id,
                    slot_id=request.slot_id,
                    workflow_id=workflow.info().workflow_id,
                    payment=request.payment,
                    contact=request.contact,
                ),
                start_to_close_timeout=DECISION_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=DECISION_TIMEOUT,
                retry_policy=DECISION_RETRY,
            )
        except ActivityFailure as err:
            if not is_business_failure(err):
                # The hold may have committed before the attempt timed out.
                await self._release(BookingStatus.FAILED, failure_reason(err))
            return await self._fail(failure_reason(err), notify=False)

        self._set_status(BookingStatus.HELD, resource=hold)
        workflow.set_current_details(f"charging wallet {hold.amount} {hold.currency} (minor units)")
        try:
            await workflow.execute_local_activity_method(
                WalletActivities.charge_wallet,
                ChargeWalletInput(
                    booking_id=request.booking_id,
                    customer_id=request.customer_id,
                    amount=hold.amount,
                    currency=hold.currency,
                ),
                start_to_close_timeout=DECISION_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=DECISION_TIMEOUT,
                retry_policy=DECISION_RETRY,
            )
        except ActivityFailure as err:
            reason = failure_reason(err)
            # Release first: it moves the booking out of HELD, so a late charge
            # attempt can no longer debit; then refund whatever did get debited.
            await self._release(BookingStatus.FAILED, reason)
            if not is_business_failure(err):
                await workflow.execute_activity_method(
                    WalletActivities.refund_wallet,
                    RefundWalletInput(booking_id=request.booking_id),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=COMPENSATION_RETRY,
                )
            return await self._fail(reason, notify=True)

        self._set_status(BookingStatus.CONFIRMED)
        self._decision = CreateResult(booking_id=request.booking_id, status=BookingStatus.CONFIRMED)
        await self._create_meeting(hold)
        await self._notify("booking_confirmed")
        await self._wait_until_slot_ends(hold)
        return await self._result()

    @workflow.update
    async def create(self) -> CreateResult:
        """Answer the creating caller once the hold (and wallet payment) is decided."""
        await workflow.wait_condition(lambda: self._decision is not None)
        assert self._decision is not None
        return self._decision

    @workflow.signal
    def retry_meeting(self) -> None:
        """Operator asks to try creating the meeting link again."""
        self._meeting_retry_requested = True

    @workflow.query
    def state(self) -> BookingState:
        """The booking as this workflow sees it now."""
        return BookingState(
            booking_id=self._request.booking_id,
            status=self._status,
            reason=self._reason,
            meeting_status=self._meeting_status,
        )

    def _set_status(self, status: BookingStatus, resource: Hold | None = None) -> None:
        self._status = status
        updates = [BOOKING_STATUS.value_set(status.value)]
        if resource is not None:
            updates.append(RESOURCE_ID.value_set(str(resource.resource_id)))
        workflow.upsert_search_attributes(updates)

    async def _release(self, status: BookingStatus, reason: ErrorCode) -> None:
        await workflow.execute_activity_method(
            SlotActivities.release_slot,
            ReleaseInput(booking_id=self._request.booking_id, status=status, reason=reason),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=COMPENSATION_RETRY,
        )

    async def _fail(self, reason: ErrorCode, *, notify: bool) -> BookingResult:
        self._reason = reason.value
        self._set_status(BookingStatus.FAILED)
        self._decision = CreateResult(
            booking_id=self._request.booking_id, status=BookingStatus.FAILED, reason=reason
        )
        workflow.set_current_details(f"failed: {reason.value}")
        if notify:
            await self._notify("booking_failed")
        return await self._result()

    async def _create_meeting(self, hold: Hold) -> None:
        workflow.set_current_details(f"creating the {hold.meeting_provider} meeting link")
        bound = timedelta(seconds=self._request.policy.meeting_alert_after_seconds)
        try:
            await workflow.execute_activity_method(
                MeetingActivities.create_meeting,
                MeetingInput(
                    booking_id=hold.booking_id,
                    provider=hold.meeting_provider,
                    starts_at=hold.starts_at,
                    ends_at=hold.ends_at,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=bound,
                retry_policy=MEETING_RETRY,
            )
        except ActivityError as err:
            # Never refund a paid booking over a meeting link: keep it PENDING,
            # alert operators, and wait for their retry signal.
            alert = f"meeting link still missing after {bound}: {err.cause or err}"
            await workflow.execute_activity_method(
                MeetingActivities.record_meeting_alert,
                MeetingRecordInput(
                    booking_id=hold.booking_id, status=MeetingStatus.PENDING, alert=alert[:300]
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=COMPENSATION_RETRY,
            )
            workflow.set_current_details(
                "confirmed; meeting link creation failing, waiting for an operator "
                "to send the retry_meeting signal"
            )
            return
        self._meeting_status = MeetingStatus.READY
        workflow.set_current_details("confirmed; meeting link ready")

    async def _notify(self, kind: NotificationKind) -> None:
        await workflow.execute_activity_method(
            NotificationActivities.send_notification,
            NotifyInput(booking_id=self._request.booking_id, kind=kind),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=NOTIFY_RETRY,
        )

    async def _wait_until_slot_ends(self, hold: Hold) -> None:
        while (remaining := hold.ends_at - workflow.now()) > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: self._meeting_retry_requested, timeout=remaining
                )
            except TimeoutError:
                break
            self._meeting_retry_requested = False
            if self._meeting_status != MeetingStatus.READY:
                await self._create_meeting(hold)
        workflow.set_current_details(f"completed: {self._status}")

    async def _result(self) -> BookingResult:
        # The create update must answer before the run returns, or Temporal
        # fails it with "workflow completed before the update completed".
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._decision is not None
        assert self._status is not None
        return BookingResult(
            booking_id=self._request.booking_id,
            status=self._status,
            reason=self._reason,
            create=self._decision,
        )
