"""How a mail names its claim, in both directions: shared by outgoing mail and the mail-in parser.

The subject carries `[claim <id>]`; the Message-ID is `<claim-<id>.<key>@guarantee.local>`, one per
notification, so a reply's In-Reply-To or References names the claim, and a resend of the same
notification is recognisable by its unchanged Message-ID.
"""

import re

MESSAGE_ID_DOMAIN = "guarantee.local"
_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")


def claim_reference(claim_id: str) -> str:
    """The tag in every subject about the claim: `[claim <id>]`."""
    return f"[claim {claim_id}]"


def claim_message_id(claim_id: str, key: str) -> str:
    """The Message-ID of the mail for one notification of the claim: `<claim-<id>.<key>@guarantee.local>`.

    A notification's event key (`<claim id>:<seq>`) is shortened to its sequence number; characters a
    Message-ID may not hold in `key` become `-`.
    """
    key = key.removeprefix(f"{claim_id}:")
    return f"<claim-{claim_id}.{_NOT_ATEXT.sub('-', key)}@{MESSAGE_ID_DOMAIN}>"
