"""The parts a booking workflow's objects share, handed to each as one bundle.

Built once in :class:`workflows.booking.BookingWorkflow`'s ``__init__``: the
start input, the state, the step runner and the collaborators every larger
concern uses. Passed through the sandbox (docs/determinism.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.payloads import BookingInput
from workflows.attention import OperatorView
from workflows.notices import Notices
from workflows.pending import MustHappen
from workflows.refunds import Refunds
from workflows.saga import SagaState
from workflows.steps import Steps


@dataclass(frozen=True)
class Parts:
    """A booking's input, state, runner, operator view, must-happen steps, refunds and mail."""

    request: BookingInput
    state: SagaState
    steps: Steps
    view: OperatorView
    must: MustHappen
    refunds: Refunds
    notices: Notices
