"""Wallet top-ups: one idempotent request, one workflow, the order to pay in the answer.

Limits: each top-up between ``BOOKING_TOPUP_MIN_AMOUNT`` and
``BOOKING_TOPUP_MAX_AMOUNT`` (422), and per customer, currency and UTC day at
most ``BOOKING_TOPUP_DAILY_LIMIT`` asked for (429 ``TOPUP_LIMIT_EXCEEDED``,
enforced by a CHECK on ``topup_days``, counted when the top-up is made).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Services
from api.return_urls import check_return_url
from api.schemas.common import Money, RefundMadeOut
from api.schemas.ops import TopupRefundOut
from api.schemas.wallets import TopupOut, TopupPaymentOut
from api.services.booking_changes import bounded, update_error
from api.services.commands import CreateTopup
from api.services.idempotency import Refusal, Success
from core.auth import Principal
from core.db import CHECK_VIOLATION, pg_error
from core.formatting import money
from models.db import AuditRecord, Topup, TopupDay
from models.domain import TopupStatus
from models.errors import BookingError, ErrorCode
from models.payloads import BookingPolicy, TopupInput, TopupRefundRequest
from workflows.topup import TopupWorkflow

log = structlog.get_logger(__name__)

TOPUP_SCOPE = "wallet.topup"


def topup_workflow_id(topup_id: uuid.UUID) -> str:
    """Each top-up is one workflow, whose id is derived from the top-up's id."""
    return f"topup-{topup_id}"


def _topup_view(topup: Topup) -> TopupOut:
    return TopupOut(
        id=topup.id,
        status=TopupStatus(topup.status),
        reason=topup.reason,
        amount=Money(amount=topup.amount, currency=topup.currency),
        refunded=Money(amount=topup.refunded_amount, currency=topup.currency),
        payment=TopupPaymentOut(
            provider=topup.provider, order_id=topup.order_id, checkout_url=topup.checkout_url
        ),
        expires_at=topup.expires_at,
        created_at=topup.created_at,
    )


async def create_topup(
    services: Services, user: Principal, key: str, request: CreateTopup
) -> tuple[Success | Refusal, bool]:
    """Start a top-up once per Idempotency-Key; the answer carries its order to pay.

    Returns:
        The answer (201 with the top-up, or a refusal) and whether it is a replay.

    Raises:
        BookingError: VALIDATION_ERROR for a provider not configured or an amount
            outside the per-top-up limits.
    """
    settings = services.settings
    enabled = settings.enabled_gateways()
    if request.provider not in enabled:
        raise BookingError(
            ErrorCode.VALIDATION_ERROR,
            f"provider: must be one of: {', '.join(sorted(enabled)) or 'none configured'}",
        )
    if request.return_url is not None:
        check_return_url(settings, request.return_url)
    amount = request.amount
    low, high = settings.topup_min_amount, settings.topup_max_amount
    if not low <= amount.amount <= high:
        raise BookingError(
            ErrorCode.VALIDATION_ERROR,
            f"amount.amount: a top-up is between {money(low, amount.currency)} and "
            f"{money(high, amount.currency)}",
        )
    claim = await services.claims.claim(
        principal=str(user.sub),
        scope=TOPUP_SCOPE,
        key=key,
        body=request.fingerprint(),
        ttl_days=settings.idempotency_ttl_days,
    )
    if claim.answer is not None:
        return claim.answer, True
    if not await _count_today(services, user, claim.target_id, request):
        refused = await claim.refuse(Refusal.of(ErrorCode.TOPUP_LIMIT_EXCEEDED))
        if refused is not None:
            return refused, False
    stored = await claim.start()
    if stored is not None:
        return stored, True
    await _start_workflow(services, user, claim.target_id, request)
    async with services.sessions() as session:
        topup = await session.get(Topup, claim.target_id)
        assert topup is not None
        out = _topup_view(topup)
    answer = await claim.settle(Success(201, out.model_dump(mode="json")))
    log.info("topup.created", topup_id=str(claim.target_id), status=out.status)
    return answer, False


async def _count_today(
    services: Services, user: Principal, topup_id: uuid.UUID, request: CreateTopup
) -> bool:
    """Write the top-up (PENDING) and count it against today's limit; False over the limit."""
    async with services.sessions() as session:
        made = await session.execute(
            insert(Topup)
            .values(
                id=topup_id,
                customer_id=user.sub,
                amount=request.amount.amount,
                currency=request.amount.currency,
                provider=request.provider,
                status=TopupStatus.PENDING.value,
                workflow_id=topup_workflow_id(topup_id),
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Topup.id)
        )
        if made.first() is None:  # A retried request of this key counted it already.
            await session.commit()
            return True
        day = insert(TopupDay).values(
            customer_id=user.sub,
            day=datetime.now(UTC).date(),
            currency=request.amount.currency,
            total=request.amount.amount,
            cap=services.settings.topup_daily_limit,
        )
        try:
            await session.execute(
                day.on_conflict_do_update(
                    index_elements=["customer_id", "day", "currency"],
                    set_={"total": TopupDay.total + day.excluded.total, "cap": day.excluded.cap},
                )
            )
            await session.commit()
        except IntegrityError as exc:
            if pg_error(exc).sqlstate != CHECK_VIOLATION:
                raise
            await session.rollback()
            return False
    return True


def seconds_to_midnight() -> int:
    """Until the daily limit starts again (UTC midnight): the Retry-After of a refusal."""
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


async def _start_workflow(
    services: Services, user: Principal, topup_id: uuid.UUID, request: CreateTopup
) -> None:
    """Start the top-up's workflow and wait (bounded) until its order exists."""
    settings = services.settings
    start = WithStartWorkflowOperation(
        TopupWorkflow.run,
        TopupInput(
            topup_id=topup_id,
            customer_id=user.sub,
            amount=request.amount.amount,
            currency=request.amount.currency,
            provider=request.provider,
            return_url=request.return_url,
            policy=BookingPolicy(
                hold_ttl_seconds=settings.hold_ttl_seconds,
                gateway_max_attempts=settings.gateway_max_attempts,
                late_payment_window_seconds=settings.late_payment_window_seconds,
            ),
        ),
        id=topup_workflow_id(topup_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=(
            f"Wallet top-up · {money(request.amount.amount, request.amount.currency)} · "
            f"{request.provider}"
        ),
    )
    client = await services.temporal.client()
    try:
        async with asyncio.timeout(settings.create_timeout_seconds):
            await client.execute_update_with_start_workflow(
                TopupWorkflow.create,
                start_workflow_operation=start,
                id="create",
                rpc_timeout=timedelta(seconds=settings.create_timeout_seconds),
            )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise BookingError(
            ErrorCode.DEPENDENCY_UNAVAILABLE,
            "The top-up is taking longer than expected; retry with the same key.",
        ) from None


async def get_topup(services: Services, user: Principal, topup_id: uuid.UUID) -> TopupOut:
    """One of the caller's top-ups (another customer's is not found)."""
    async with services.sessions() as session:
        topup = await session.get(Topup, topup_id)
    if topup is None or (topup.customer_id != user.sub and not user.is_operator):
        raise BookingError(ErrorCode.NOT_FOUND, "No such top-up.")
    return _topup_view(topup)


async def refund_topup(
    services: Services, user: Principal, topup_id: uuid.UUID, reason: str, key: str
) -> TopupRefundOut:
    """An operator refunds a credited top-up through its workflow (audited), once per key.

    The caller's ``Idempotency-Key`` names the audit record and the workflow
    update, so a retry with the same key is the same update (Temporal answers it
    with the first one's outcome) and writes no second audit line.

    Raises:
        BookingError: NOT_FOUND; 409 INVALID_STATE unless credited and not refunded
            (or once its workflow has closed); 402 INSUFFICIENT_FUNDS when the
            wallet no longer holds the amount.
    """
    actor = f"{user.role}:{user.sub}"
    # The key is the caller's: named with the caller, hashed to a fixed length.
    named = hashlib.sha256(f"{actor}\n{key}".encode()).hexdigest()[:32]
    async with services.sessions() as session:
        topup = await session.get(Topup, topup_id)
        if topup is None:
            raise BookingError(ErrorCode.NOT_FOUND, "No such top-up.")
        await session.execute(
            insert(AuditRecord)
            .values(
                actor=actor,
                action="topup.refund_requested",
                reason=f"topup {topup_id}: {reason}",
                key=f"topup:{topup_id}:refund:{named}",
            )
            .on_conflict_do_nothing(index_elements=[AuditRecord.key])
        )
        await session.commit()
    client = await services.temporal.client()
    handle = client.get_workflow_handle_for(TopupWorkflow.run, topup.workflow_id)
    request = TopupRefundRequest(actor=actor, reason=reason)
    change = f"top-up-refund-{named}"
    try:
        info = await bounded(
            services,
            "top-up refund",
            lambda: handle.execute_update(TopupWorkflow.refund, request, id=change),
        )
    except WorkflowUpdateFailedError as exc:
        raise update_error(exc) from None
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise BookingError(
            ErrorCode.INVALID_STATE, "The top-up's refund window has passed."
        ) from None
    log.info("topup.refunded", topup_id=str(topup_id), actor=actor)
    return TopupRefundOut(
        topup_id=topup_id,
        refund=RefundMadeOut(
            amount=Money(amount=info.amount, currency=info.currency),
            method=info.method,
            status=info.status,
        ),
    )
