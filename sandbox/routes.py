"""The sandbox's HTTP routes: thin handlers over :class:`sandbox.service.Sandbox`."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime

from sandbox.checkout import checkout_page, not_found_page
from sandbox.delivery import Attempt
from sandbox.errors import SandboxError, SandboxErrorCode
from sandbox.schemas import (
    CreateOrderIn,
    DeliveryList,
    DeliveryOut,
    EventList,
    EventOut,
    Faults,
    OrderOut,
    PayIn,
    PaymentList,
    PaymentOut,
    RefundIn,
    RefundList,
    RefundOut,
)
from sandbox.service import Sandbox
from sandbox.store import Order, Payment, Refund, rfc3339


def get_sandbox(request: Request) -> Sandbox:
    """The app's sandbox."""
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]


def require_api_key(
    sandbox: SandboxDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Merchant endpoints: ``Authorization: Bearer <api_key>``, compared in constant time."""
    scheme, _, token = (authorization or "").partition(" ")
    valid = hmac.compare_digest(token.strip().encode(), sandbox.config.api_key.encode())
    if scheme.lower() != "bearer" or not valid:
        raise SandboxError(SandboxErrorCode.UNAUTHENTICATED, "A valid API key is required.")


merchant = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], tags=["merchant"])
customer = APIRouter(tags=["customer"])


def order_out(sandbox: Sandbox, order: Order) -> OrderOut:
    """The order as the API shows it."""
    return OrderOut(
        id=order.id,
        amount=order.amount,
        currency=order.currency,
        receipt=order.receipt,
        status=order.status,
        amount_paid=order.amount_paid,
        amount_refunded=order.amount_refunded,
        checkout_url=sandbox.checkout_url(order.id),
        created_at=rfc3339(order.created_at),
        expires_at=rfc3339(order.expires_at) if order.expires_at else None,
        notes=order.notes,
        return_url=order.return_url,
        payments=[payment_out(p) for p in order.payments],
    )


def payment_out(payment: Payment) -> PaymentOut:
    """The payment as the API shows it."""
    return PaymentOut(
        id=payment.id,
        order_id=payment.order_id,
        amount=payment.amount,
        currency=payment.currency,
        status=payment.status,
        created_at=rfc3339(payment.created_at),
    )


def refund_out(refund: Refund) -> RefundOut:
    """The refund as the API shows it."""
    return RefundOut(
        id=refund.id,
        payment_id=refund.payment_id,
        order_id=refund.order_id,
        amount=refund.amount,
        currency=refund.currency,
        status="processed",
        reason=refund.reason,
        created_at=rfc3339(refund.created_at),
    )


def delivery_out(attempt: Attempt) -> DeliveryOut:
    """A delivery attempt as the API shows it."""
    return DeliveryOut(
        event_id=attempt.event_id,
        copy_index=attempt.copy_index,
        attempt=attempt.attempt,
        status_code=attempt.status_code,
        error=attempt.error,
        retry_in=attempt.retry_in,
        at=attempt.at,
    )


@merchant.post("/orders", status_code=201)
async def create_order(body: CreateOrderIn, sandbox: SandboxDep, response: Response) -> OrderOut:
    """Create an order; the same receipt again returns the existing order with 200."""
    order, created = await sandbox.store.create_order(body)
    if not created:
        response.status_code = 200
    return order_out(sandbox, order)


@merchant.get("/orders/{order_id}")
async def get_order(order_id: str, sandbox: SandboxDep) -> OrderOut:
    """One order with its payments."""
    return order_out(sandbox, sandbox.store.get_order(order_id))


@merchant.get("/payments")
async def list_payments(
    sandbox: SandboxDep, since: Annotated[AwareDatetime | None, Query()] = None
) -> PaymentList:
    """Payments created at or after ``since``, oldest first, for reconciliation."""
    return PaymentList(items=[payment_out(p) for p in sandbox.store.payments_since(since)])


@merchant.get("/refunds")
async def list_refunds(
    sandbox: SandboxDep, since: Annotated[AwareDatetime | None, Query()] = None
) -> RefundList:
    """Refunds created at or after ``since``, oldest first, for reconciliation."""
    return RefundList(items=[refund_out(r) for r in sandbox.store.refunds_since(since)])


@merchant.post("/refunds", status_code=201)
async def create_refund(
    body: RefundIn,
    sandbox: SandboxDep,
    response: Response,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=255)],
) -> RefundOut:
    """Refund part of a captured payment; the same Idempotency-Key returns the same refund."""
    if sandbox.deliverer.faults.refunds_unavailable:
        raise SandboxError(SandboxErrorCode.UNAVAILABLE, "Refunds are unavailable (fault mode).")
    refund, created = await sandbox.store.refund(body, idempotency_key)
    if not created:
        response.status_code = 200
    return refund_out(refund)


@merchant.get("/sandbox/events", response_model_exclude_none=True)
async def list_events(sandbox: SandboxDep) -> EventList:
    """Every webhook event emitted, oldest first, exactly as delivered."""
    return EventList(items=[EventOut.model_validate(e.body) for e in sandbox.deliverer.events])


@merchant.get("/sandbox/deliveries")
async def list_deliveries(sandbox: SandboxDep) -> DeliveryList:
    """Every webhook delivery attempt: event id, copy, attempt, status code or error."""
    return DeliveryList(items=[delivery_out(a) for a in sandbox.deliverer.attempts])


@merchant.get("/sandbox/faults")
async def get_faults(sandbox: SandboxDep) -> Faults:
    """The current webhook fault mode."""
    return sandbox.deliverer.faults


@merchant.put("/sandbox/faults")
async def put_faults(body: Faults, sandbox: SandboxDep) -> Faults:
    """Replace the fault modes; ``{}`` turns every fault off."""
    sandbox.deliverer.faults = body
    return body


@customer.post("/v1/orders/{order_id}/pay")
async def pay(order_id: str, body: PayIn, sandbox: SandboxDep) -> PaymentOut:
    """Play the customer: capture or fail a payment. No API key: the checkout page calls it."""
    payment = await sandbox.store.pay(order_id, success=body.outcome == "success")
    return payment_out(payment)


@customer.get("/checkout/{order_id}", response_class=HTMLResponse)
async def checkout(order_id: str, sandbox: SandboxDep) -> HTMLResponse:
    """The hosted checkout page for an order."""
    order = sandbox.store.find_order(order_id)
    if order is None:
        return HTMLResponse(not_found_page(order_id), status_code=404)
    return HTMLResponse(checkout_page(order))


@customer.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}
