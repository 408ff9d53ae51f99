"""Creating a booking: one idempotent request, one workflow, one synchronous decision.

The way down: check the payment choice and the slot; claim the Idempotency-Key
(:class:`~api.services.idempotency.IdempotencyKey`); refuse a full slot early
or wait at the per-slot gate; start the workflow with Update-with-Start and
wait for its ``create`` decision; settle the key with the answer. Once the key
is claimed, one :class:`ClaimedCreate` carries the request the rest of the way.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.deps import Services
from api.return_urls import check_return_url
from api.services.commands import CreateBooking
from api.services.idempotency import Answer, IdempotencyKey, Refusal, Success
from api.services.targets import Seats, Target
from api.views import booking_view
from core.auth import Principal
from core.formatting import local_time, money
from core.settings import Settings
from models.domain import BookingStatus, PaymentMethod, has_started
from models.errors import OVERLAP_MESSAGE, BookingError, ErrorCode
from models.payloads import (
    SAGA_VERSION,
    BookingInput,
    BookingPolicy,
    BookingRange,
    Contact,
    CreateResult,
    PaymentSpec,
)
from models.search_attributes import (
    BOOKING_ID,
    BOOKING_STATUS,
    CUSTOMER_ID,
    PAYMENT_PROVIDER,
    RESOURCE_ID,
)
from workflows.booking import BookingWorkflow

log = structlog.get_logger(__name__)

CREATE_SCOPE = "booking.create"
CREATE_UPDATE_ID = "create"
# SLOT_UNAVAILABLE in words when the slot is not full but begun (the code stays: DESIGN's).
SLOT_STARTED = "The slot has already started."


def workflow_id_for(booking_id: uuid.UUID) -> str:
    """Each booking is one workflow, whose id is derived from the booking id."""
    return f"booking-{booking_id}"


@dataclass(frozen=True)
class ClaimedCreate:
    """A create whose key this request has claimed: who asks, for what, and what it books."""

    customer: Principal
    claim: IdempotencyKey
    request: CreateBooking
    target: Target

    @property
    def booking_id(self) -> uuid.UUID:
        """The booking's id: the key's, so every request with the key names the same booking."""
        return self.claim.target_id


@dataclass(frozen=True)
class CreateOutcome:
    """What ``POST /v1/bookings`` answers, and whether it is a replay of a stored answer."""

    answer: Answer
    replayed: bool


async def create_booking(
    services: Services, user: Principal, key: str, request: CreateBooking
) -> CreateOutcome:
    """Create a booking, idempotently per (customer, key).

    The key's record gives every concurrent request the same booking id; the
    workflow id derives from it and the update id is fixed, so Temporal runs
    one workflow and one ``create`` update however many requests race. The
    first answer is stored and replayed for the key's lifetime.

    A slot that is already full is refused here, without a workflow, and a
    burst on one slot waits at the per-slot gate (:mod:`api.admission`) rather
    than queue in the worker; the hold activity and the database still decide.
    """
    _check_payment(services, request)
    target = await services.targets.of(request)
    _check_price(target, request)
    claim = await services.claims.claim(
        principal=str(user.sub),
        scope=CREATE_SCOPE,
        key=key,
        body=request.fingerprint(),
        ttl_days=services.settings.idempotency_ttl_days,
    )
    if claim.answer is not None:
        return CreateOutcome(claim.answer, replayed=True)
    create = ClaimedCreate(user, claim, request, target)
    structlog.contextvars.bind_contextvars(
        booking_id=str(create.booking_id), workflow_id=workflow_id_for(create.booking_id)
    )
    seats = target.seats
    if seats is None:
        # A range: the overlap constraint decides in the hold; no gate to wait at.
        return await _start_and_decide(services, create)
    async with services.admission.admit(
        seats.slot_id,
        functools.partial(services.targets.free_seats, seats.slot_id),
        known_free=seats.free(),
    ) as admitted:
        if not admitted:
            # Full already: answer without a workflow, unless a duplicate of this
            # key has started one, whose outcome is then the answer.
            # Stored with the other refusals of this moment, in one statement.
            refused = await services.refusals.refuse(claim, _no_seat(seats))
            if refused is not None:
                log.info("booking.create_refused_early", status=refused.status)
                return CreateOutcome(refused, replayed=False)
        return await _start_and_decide(services, create)


async def _start_and_decide(services: Services, create: ClaimedCreate) -> CreateOutcome:
    stored = await create.claim.start()
    if stored is not None:
        return CreateOutcome(stored, replayed=True)
    answer = await create.claim.settle(await _decide(services, create))
    log.info("booking.create_answered", status=answer.status)
    return CreateOutcome(answer, replayed=False)


def summary(target: Target, request: CreateBooking) -> str:
    """The workflow's summary in the Temporal UI: what is booked, when, for how much, paid how.

    No personal data: the resource, its local start time, the price, the method.
    """
    payment = request.payment
    paid = "wallet" if payment.method == PaymentMethod.WALLET else payment.provider
    return (
        f"{target.resource_name} · {local_time(target.starts_at, target.timezone)} · "
        f"{money(target.amount, target.currency)} · {paid}"
    )


def _check_payment(services: Services, request: CreateBooking) -> None:
    payment = request.payment
    if payment.method == PaymentMethod.GATEWAY:
        enabled = services.settings.enabled_gateways()
        if payment.provider not in enabled:
            raise BookingError(
                ErrorCode.VALIDATION_ERROR,
                "payment.provider: must be one of: "
                + (", ".join(sorted(enabled)) or "none configured"),
            )
    elif payment.provider is not None:
        raise BookingError(
            ErrorCode.VALIDATION_ERROR, "payment.provider: only for gateway payments"
        )
    if request.return_url is not None:
        if payment.method != PaymentMethod.GATEWAY:
            raise BookingError(ErrorCode.VALIDATION_ERROR, "return_url: only for gateway payments")
        check_return_url(services.settings, request.return_url)


def _check_price(target: Target, request: CreateBooking) -> None:
    """Refuse a gateway payment of nothing: no gateway takes an order of 0.

    Refused at the door, before a key is claimed or a workflow started, as a
    wrong provider is: a free slot is booked with the wallet, which takes nothing.
    """
    if target.amount == 0 and request.payment.method == PaymentMethod.GATEWAY:
        raise BookingError(
            ErrorCode.VALIDATION_ERROR,
            'payment.method: this slot is free; book it with the wallet ({"method": "wallet"})',
        )


def _no_seat(seats: Seats) -> Refusal:
    """Why a slot with no free seat is refused: it has started, or it is full."""
    if has_started(seats.starts_at, datetime.now(UTC)):
        return Refusal(ErrorCode.SLOT_UNAVAILABLE, SLOT_STARTED)
    return Refusal.of(ErrorCode.SLOT_UNAVAILABLE)


async def _decide(services: Services, create: ClaimedCreate) -> Answer:
    """Run the create update; its decision becomes the key's answer."""
    try:
        # The SDK polls for the update's outcome without an overall deadline (the
        # RPC timeout bounds each poll): this bounds the whole wait.
        async with asyncio.timeout(services.settings.create_timeout_seconds):
            result = await _run_create_update(services, create)
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
        # The workflow keeps going; the same key later gets its answer.
        log.warning("booking.create_timed_out", first_request=create.claim.first)
        if create.claim.first:
            raise BookingError(
                ErrorCode.DEPENDENCY_UNAVAILABLE,
                "The booking is taking longer than expected; retry with the same key.",
            ) from None
        raise BookingError(
            ErrorCode.IDEMPOTENCY_KEY_IN_USE,
            "A request with this Idempotency-Key is still in progress; retry later.",
        ) from None
    if result.status == BookingStatus.FAILED:
        code = ErrorCode(result.reason or ErrorCode.INTERNAL)
        if code == ErrorCode.SLOT_UNAVAILABLE and create.request.slot_id is None:
            return Refusal(code, OVERLAP_MESSAGE)
        return Refusal.of(code)
    # One statement, outside a transaction: no BEGIN and ROLLBACK around it.
    async with services.autocommit.connect() as conn:
        view = await booking_view(conn, create.booking_id)
    assert view is not None
    return Success(201, view.model_dump(mode="json"))


def _booking_input(settings: Settings, create: ClaimedCreate) -> BookingInput:
    """The workflow's input: the request, the customer and the engine's policy of this moment."""
    request = create.request
    contact = request.contact
    return BookingInput(
        booking_id=create.booking_id,
        customer_id=create.customer.sub,
        slot_id=request.slot_id,
        range=None
        if request.resource_id is None or request.starts_at is None or request.ends_at is None
        else BookingRange(
            resource_id=request.resource_id, starts_at=request.starts_at, ends_at=request.ends_at
        ),
        payment=PaymentSpec(
            method=request.payment.method,
            provider=request.payment.provider,
            return_url=request.return_url,
        ),
        contact=None
        if contact is None
        else Contact(email=contact.email, name=contact.name, timezone=contact.timezone),
        policy=BookingPolicy(
            hold_ttl_seconds=settings.hold_ttl_seconds,
            max_active_holds=settings.max_active_holds,
            meeting_alert_after_seconds=settings.meeting_alert_after_seconds,
            gateway_max_attempts=settings.gateway_max_attempts,
            late_payment_window_seconds=settings.late_payment_window_seconds,
            decision_timeout_seconds=settings.create_timeout_seconds,
            reminder_offsets_seconds=settings.reminder_offsets_seconds,
        ),
        saga_version=SAGA_VERSION,
    )


async def _run_create_update(services: Services, create: ClaimedCreate) -> CreateResult:
    settings = services.settings
    booking_id, resource_id = create.booking_id, create.target.resource_id
    payment, slot_id = create.request.payment, create.request.slot_id
    workflow_id = workflow_id_for(booking_id)
    start = WithStartWorkflowOperation(
        BookingWorkflow.run,
        _booking_input(settings, create),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # A finished booking is never started again under the same id.
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(BOOKING_ID, str(booking_id)),
                SearchAttributePair(CUSTOMER_ID, str(create.customer.sub)),
                SearchAttributePair(RESOURCE_ID, str(resource_id)),
                SearchAttributePair(PAYMENT_PROVIDER, payment.provider or payment.method),
                SearchAttributePair(BOOKING_STATUS, BookingStatus.HELD.value),
            ]
        ),
        static_summary=summary(create.target, create.request),
        static_details=(
            f"Booking {booking_id}, {'slot ' + str(slot_id) if slot_id else 'a range'}"
            f" of resource {resource_id}. "
            f"Ops API: GET /v1/bookings/{booking_id}; its alerts: "
            f"GET /v1/ops/alerts?booking_id={booking_id}"
        ),
    )
    temporal = await services.temporal.client()
    try:
        return await temporal.execute_update_with_start_workflow(
            BookingWorkflow.create,
            start_workflow_operation=start,
            id=CREATE_UPDATE_ID,
            rpc_timeout=timedelta(seconds=settings.create_timeout_seconds),
        )
    except WorkflowAlreadyStartedError:
        # The workflow already finished (a failed booking closes at once) before
        # this request attached: its result carries the same decision.
        handle = temporal.get_workflow_handle_for(BookingWorkflow.run, workflow_id)
        return (await handle.result()).create
    except WorkflowUpdateFailedError:
        log.exception("booking.create_update_failed")
        raise BookingError(ErrorCode.INTERNAL) from None
