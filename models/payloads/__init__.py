"""Temporal payloads: the inputs and results of the workflows and their activities.

Small frozen pydantic models carried by the pydantic data converter. Each
workflow, activity and update has its own ``<Verb>Input`` so fields can be
added compatibly. ORM objects never cross into Temporal.

One module per activity module (``alerts``, ``audit``, ``decision``,
``meetings``, ``notifications``, ``payments``, ``reconcile``, ``slots``,
``topups``, ``wallet``) holds what its activities take and return; the
workflows' own start inputs, updates and queries are in ``booking_workflow``,
``ops_workflow`` (operator actions, served by both booking workflows) and
``topup_workflow``; ``common`` holds the base class and the shapes several
of them carry. Every name is re-exported here, so ``from models.payloads
import X`` works as it did when this was one module.
"""

from __future__ import annotations

from models.payloads.alerts import OpenAlertInput, SettleAlertInput
from models.payloads.audit import RecordAuditInput
from models.payloads.booking_workflow import (
    SAGA_VERSION,
    BookingInput,
    BookingResult,
    BookingState,
    CancelInput,
    CancelResult,
    CreateResult,
    RescheduleInput,
    RescheduleResult,
    RetryMeetingInput,
    RetryMeetingResult,
    RetryPendingInput,
    RetryPendingResult,
)
from models.payloads.common import (
    BookingPolicy,
    BookingRange,
    Contact,
    CreateOrderResult,
    Frozen,
    PaymentEvent,
    PaymentSpec,
    RefundInfo,
    RefundPaymentResult,
)
from models.payloads.decision import WalletDecision
from models.payloads.meetings import (
    CancelMeetingInput,
    CreateMeetingInput,
    MeetingLink,
    RecordMeetingAlertInput,
)
from models.payloads.notifications import SendNotificationInput, SendNotificationResult
from models.payloads.ops_workflow import (
    BookingOpsInput,
    OpsRefundInput,
    OpsRefundResult,
    RecoverInput,
    RecoverResult,
    ResendNotificationInput,
    ResendNotificationResult,
)
from models.payloads.payments import (
    CancelOrderInput,
    ConfirmPaymentInput,
    CreateOrderInput,
    FindRefundableInput,
    MarkRefundProcessedInput,
    RecordDeclineInput,
    Refundable,
    RefundPaymentInput,
)
from models.payloads.reconcile import ReconcileFailedInput, ReconcileInput, ReconcileResult
from models.payloads.recovery import RecoveryPlan, RecoveryPlanInput
from models.payloads.slots import (
    HoldSlotInput,
    MoveBookingInput,
    MoveBookingResult,
    ReleaseSlotInput,
    SlotHold,
)
from models.payloads.topup_workflow import TopupDecision, TopupInput, TopupRefundRequest, TopupState
from models.payloads.topups import (
    CreateTopupOrderInput,
    CreditTopupInput,
    ExpireTopupInput,
    RefundTopupInput,
)
from models.payloads.wallet import ChargeWalletInput, RefundWalletInput

__all__ = [
    "SAGA_VERSION",
    "BookingInput",
    "BookingOpsInput",
    "BookingPolicy",
    "BookingRange",
    "BookingResult",
    "BookingState",
    "CancelInput",
    "CancelMeetingInput",
    "CancelOrderInput",
    "CancelResult",
    "ChargeWalletInput",
    "ConfirmPaymentInput",
    "Contact",
    "CreateMeetingInput",
    "CreateOrderInput",
    "CreateOrderResult",
    "CreateResult",
    "CreateTopupOrderInput",
    "CreditTopupInput",
    "ExpireTopupInput",
    "FindRefundableInput",
    "Frozen",
    "HoldSlotInput",
    "MarkRefundProcessedInput",
    "MeetingLink",
    "MoveBookingInput",
    "MoveBookingResult",
    "OpenAlertInput",
    "OpsRefundInput",
    "OpsRefundResult",
    "PaymentEvent",
    "PaymentSpec",
    "ReconcileFailedInput",
    "ReconcileInput",
    "ReconcileResult",
    "RecordAuditInput",
    "RecordDeclineInput",
    "RecordMeetingAlertInput",
    "RecoverInput",
    "RecoverResult",
    "RecoveryPlan",
    "RecoveryPlanInput",
    "RefundInfo",
    "RefundPaymentInput",
    "RefundPaymentResult",
    "RefundTopupInput",
    "RefundWalletInput",
    "Refundable",
    "ReleaseSlotInput",
    "RescheduleInput",
    "RescheduleResult",
    "ResendNotificationInput",
    "ResendNotificationResult",
    "RetryMeetingInput",
    "RetryMeetingResult",
    "RetryPendingInput",
    "RetryPendingResult",
    "SendNotificationInput",
    "SendNotificationResult",
    "SettleAlertInput",
    "SlotHold",
    "TopupDecision",
    "TopupInput",
    "TopupRefundRequest",
    "TopupState",
    "WalletDecision",
]
