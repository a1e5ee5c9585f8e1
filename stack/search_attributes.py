"""The search attributes a claim workflow keeps current, so the Temporal UI and CLI can find claims.

Registered on the server by `stack.temporal`; they hold no personal data.
"""

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

CLAIM_STATUS = SearchAttributeKey.for_keyword("ClaimStatus")
CLAIM_AMOUNT = SearchAttributeKey.for_int("ClaimAmountCents")
CLAIM_ASSIGNEE = SearchAttributeKey.for_keyword("ClaimAssignee")

ALL = (CLAIM_STATUS, CLAIM_AMOUNT, CLAIM_ASSIGNEE)


def initial(status: str, amount_cents: int, assignee: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(CLAIM_STATUS, status),
            SearchAttributePair(CLAIM_AMOUNT, amount_cents),
            SearchAttributePair(CLAIM_ASSIGNEE, assignee),
        ]
    )
