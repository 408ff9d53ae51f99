"""The search attributes every booking workflow carries; the Temporal UI filters on them.

No personal data: ids, statuses and the provider only.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

BOOKING_STATUS = SearchAttributeKey.for_keyword("BookingStatus")
BOOKING_ID = SearchAttributeKey.for_keyword("BookingId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
RESOURCE_ID = SearchAttributeKey.for_keyword("ResourceId")
PAYMENT_PROVIDER = SearchAttributeKey.for_keyword("PaymentProvider")
PAYMENT_DEADLINE = SearchAttributeKey.for_datetime("PaymentDeadline")
# The kinds of what needs a person on this booking (models.domain.AttentionKind); empty when none.
BOOKING_ATTENTION = SearchAttributeKey.for_keyword_list("BookingAttention")

# Name -> indexed type, as `make dev`, the test session and the compose init step register them.
SEARCH_ATTRIBUTES: dict[str, str] = {
    "BookingStatus": "Keyword",
    "BookingId": "Keyword",
    "CustomerId": "Keyword",
    "ResourceId": "Keyword",
    "PaymentProvider": "Keyword",
    "PaymentDeadline": "Datetime",
    "BookingAttention": "KeywordList",
}
