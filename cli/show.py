"""What the command line prints: plain-text tables and a claim laid out for reading.

Everything here takes the API's JSON (dicts) and returns text; amounts read as `1,250.00 USD`,
times as UTC. Text from the API is what people typed (a description, a note) or what a provider
sent, so what is printed passes through `clean`: no terminal escape sequence, control character
or bidi override reaches the terminal.
"""

import functools
import re
from datetime import UTC, datetime

from schema.money import format_cents

CELL = 48  # widest a table cell gets before it is cut

# Terminal escape sequences, whole: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings up to their
# terminator, other ESC sequences, and their one-byte C1 forms.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[ -/]*[0-~]?",
    re.DOTALL,
)
# What is left to drop: C0 controls, DEL, C1 controls, and the bidi controls that reorder a line.
_CONTROLS = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@functools.cache
def _dropping(keep: str) -> dict[int, None]:
    return dict.fromkeys(ord(c) for c in _CONTROLS + _BIDI if c not in keep)


def clean(text: str, keep: str = "") -> str:
    """`text` without terminal escape sequences, control characters and bidi controls; the
    characters in `keep` (e.g. "\n") stay."""
    return _ESCAPES.sub("", text).translate(_dropping(keep))


def _printable(show):
    """A function of this module whose text goes to the terminal: cleaned, its line breaks kept."""

    @functools.wraps(show)
    def shown(*args, **kwargs) -> str:
        return clean(show(*args, **kwargs), keep="\n")

    return shown


@_printable
def table(headers: list[str], rows: list[list], width: int = CELL) -> str:
    cells = [[_cut(_text(c), width) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [headers, *cells]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _text(value) -> str:
    return "-" if value is None or value == "" else " ".join(clean(str(value), keep="\t\n\r").split())


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def when(value: str | None, seconds: bool = True) -> str | None:
    if not value:
        return None
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def money(cents: int | None, currency: str) -> str | None:
    return None if cents is None else format_cents(cents, currency)


@_printable
def claims_table(page: dict) -> str:
    items = page["items"]
    if not items:
        return "no claims"
    rows = [
        [
            c["id"],
            c["status"],
            c["type"],
            money(c["amount_cents"], c["currency"]),
            money(c["approved_amount_cents"], c["currency"]),
            c["customer_id"],
            c["pro_id"],
            c["assignee"],
            when(c["opened_at"], seconds=False),
        ]
        for c in items
    ]
    headers = ["ID", "STATUS", "TYPE", "CLAIMED", "APPROVED", "CUSTOMER", "PRO", "ASSIGNEE", "OPENED (UTC)"]
    first = page["offset"] + 1
    footer = f"{first}-{page['offset'] + len(items)} of {page['total']}"
    return f"{table(headers, rows, width=24)}\n{footer}"


@_printable
def claim_line(claim: dict, payout: bool = False) -> str:
    """One line after an action: where the claim stands now (and, with `payout`, where the money goes)."""
    text = f"claim {claim['id']}: {claim['status']}"
    approved = claim.get("approved_amount_cents")
    if approved is not None and claim["status"] not in ("specialist_review", "evidence_collection"):
        text += f", {money(approved, claim['currency'])} decided"
    else:
        text += f", {money(claim['amount_cents'], claim['currency'])} claimed"
    if claim.get("assignee"):
        text += f", waiting on {claim['assignee']}"
    if claim["status"] in ("approved", "paying"):
        text += " (the payout is on its way)"
    elif claim["status"] == "payout_failed":
        refused = [p for p in claim.get("payouts", []) if p["status"] == "failed"]
        code = refused[-1].get("failure_code") if refused else None
        text += f" (the payout was refused{': ' + code if code else ''}; finance retries or cancels it)"
    if payout:
        text += f"; pays by {payout_to(claim) or 'nothing yet: no payout details'}"
    return text


def destination(details: dict) -> str:
    """Payout details as people say them: `transfer to acct_...` or `refund of ch_...`."""
    joint = "to" if details["method"] == "transfer" else "of"
    return f"{details['method']} {joint} {details['destination']}"


def details_in_use(claim: dict) -> dict | None:
    """The payout details the claim would pay now (the newest, for a claim from before that was recorded)."""
    details = claim.get("payout_details") or []
    in_use = [d for d in details if d["id"] == claim.get("payout_details_id")] or details[-1:]
    return in_use[0] if in_use else None


def payout_to(claim: dict) -> str | None:
    details = details_in_use(claim)
    return details and destination(details)


def _contacts(claim: dict) -> dict[str, str]:
    """The addresses in use: the newest per party."""
    return {c["party"]: c["email"] for c in claim.get("contacts", [])}


@_printable
def claim_detail(claim: dict) -> str:
    cur = claim["currency"]
    fields = [
        ("type", f"{claim['type']}, reported by {claim['channel']}"),
        ("customer", claim["customer_id"]),
        ("pro", claim["pro_id"]),
        ("project", claim["project_id"]),
        *[(f"{party} email", _text(email)) for party, email in _contacts(claim).items()],
        ("claimed", money(claim["amount_cents"], cur)),
        ("approved", money(claim["approved_amount_cents"], cur) or "-"),
        ("payout to", f"{payout_to(claim)}, set by {details_in_use(claim)['added_by']}" if payout_to(claim) else "-"),
        ("incident", claim["incident_date"]),
        ("opened", f"{when(claim['opened_at'])} UTC by {claim['opened_by']}"),
        ("updated", f"{when(claim['updated_at'])} UTC"),
        ("assignee", claim["assignee"] or "-"),
        ("approval tier", claim["required_tier"] or "-"),
        ("policy", claim["policy_version"]),
        ("eligibility", ", ".join(claim["eligibility_issues"]) or "ok"),
        ("risk flags", ", ".join(claim["risk_flags"]) or "none"),
        ("SLA breaches", ", ".join(claim["sla_breaches"]) or "none"),
        (
            "stuck",
            f"since {when(claim['stuck_since'])} UTC: {claim['stuck_reason']}" if claim.get("stuck_reason") else "no",
        ),
        ("description", _text(claim["description"])),
    ]
    out = [f"Claim {claim['id']}  {claim['status'].upper()}"]
    out += [f"  {name:<16}{value}" for name, value in fields]
    out += _section(
        "Evidence",
        ["#", "KIND", "SOURCE", "CONTENT", "ADDED BY", "AT (UTC)", "LATE"],
        [
            [
                e["id"],
                e["kind"],
                e["source"],
                _evidence_content(e),
                e["added_by"],
                when(e["added_at"]),
                "yes" if e["after_decision_requested"] else "",
            ]
            for e in claim["evidence"]
        ],
    )
    out += _section(
        "Decisions",
        ["ROUND", "OUTCOME", "AMOUNT", "REASON", "RATIONALE", "BY", "AT (UTC)"],
        [
            [
                d["round"],
                d["outcome"],
                money(d["amount_cents"], cur),
                d["reason_code"],
                d["rationale"],
                d["decided_by"],
                when(d["decided_at"]),
            ]
            for d in claim["decisions"]
        ],
    )
    out += _section(
        "Approvals",
        ["ROUND", "VERDICT", "BY", "ROLE", "NOTE", "AT (UTC)"],
        [
            [a["round"], a["verdict"], a["approver_id"], a["approver_role"], a["note"], when(a["at"])]
            for a in claim["approvals"]
        ],
    )
    if claim.get("mediations"):
        out += _section(
            "Agreements between the parties",
            ["#", "KIND", "TERMS", "EVIDENCE", "FOLLOW UP TO (UTC)", "BY", "OUTCOME", "NOTE"],
            [
                [
                    m["id"],
                    m["kind"],
                    m["terms"],
                    ", ".join(map(str, m["evidence_ids"])),
                    when(m["due_at"]),
                    m["agreed_by"],
                    m["outcome"] or "waiting",
                    m["outcome_note"],
                ]
                for m in claim["mediations"]
            ],
        )
    out += _section(
        "Payout details",
        ["#", "METHOD", "DESTINATION", "ADDED BY", "AT (UTC)"],
        [
            [d["id"], d["method"], d["destination"], d["added_by"], when(d["added_at"])]
            for d in claim.get("payout_details", [])
        ],
    )
    out += _section(
        "Payouts",
        ["ATTEMPT", "AMOUNT", "METHOD", "STATUS", "PROVIDER", "REFERENCE", "CREATED (UTC)", "COMPLETED (UTC)"],
        [
            [
                p["attempt"],
                money(p["amount_cents"], p["currency"]),
                p.get("method"),
                p["status"],
                p["provider"],
                p["provider_ref"] or p.get("failure_code"),
                when(p["created_at"]),
                when(p["completed_at"]),
            ]
            for p in claim["payouts"]
        ],
    )
    out += _section(
        "Timeline",
        ["AT (UTC)", "ACTION", "STATUS", "BY", "REASON"],
        [[when(t["at"]), t["action"], _transition(t), _by(t), t["reason"]] for t in claim["timeline"]],
    )
    return "\n".join(out)


def _section(title: str, headers: list[str], rows: list[list]) -> list[str]:
    if not rows:
        return ["", f"{title}: none"]
    body = table(headers, rows).splitlines()
    return ["", f"{title} ({len(rows)})", *(f"  {line}" for line in body)]


def _evidence_content(e: dict) -> str:
    parts = []
    if e.get("file"):
        f = e["file"]
        parts.append(f"{f['filename']} ({f['size_bytes']} bytes, sha256 {f['sha256'][:12]})")
    if e.get("note"):
        parts.append(e["note"])
    return "; ".join(parts)


def _transition(t: dict) -> str | None:
    if not t["to_status"]:
        return None
    if not t["from_status"] or t["from_status"] == t["to_status"]:
        return t["to_status"]
    return f"{t['from_status']} -> {t['to_status']}"


def _by(t: dict) -> str | None:
    if not t["actor_id"]:
        return "system"
    return f"{t['actor_id']} ({t['actor_role']})" if t["actor_role"] else t["actor_id"]


@_printable
def users_table(users: list[dict]) -> str:
    if not users:
        return "no users yet: add one with `guarantee users add NAME --role ROLE`"
    now = datetime.now(UTC)
    rows = [
        [
            u["name"],
            u["role"],
            u["id"],
            when(u["created_at"], seconds=False),
            "yes" if u["active"] else "no",
            when(u["token_expires_at"], seconds=False)
            + (" (expired)" if datetime.fromisoformat(u["token_expires_at"]) <= now else ""),
        ]
        for u in users
    ]
    return table(["NAME", "ROLE", "ID", "CREATED (UTC)", "ACTIVE", "TOKEN EXPIRES (UTC)"], rows)


def user_changes_table(changes: list[dict]) -> str:
    if not changes:
        return "no changes to users"
    rows = [[when(c["at"]), c["user"], c["change"], c["detail"], c["by"], c["reason"]] for c in changes]
    return table(["AT (UTC)", "USER", "CHANGE", "DETAIL", "BY", "REASON"], rows)


# The audit trail.


def audit_problem(p: dict) -> str:
    """`kind: claim ID, table row (event KEY): what`, one line."""
    row = f" {p['row_id']}" if p["row_id"] is not None and p["table"] != "audit_heads" else ""
    event = f" (event {p['event_key']})" if p["event_key"] else ""
    return f"{p['kind']}: claim {p['claim_id']}, {p['table']}{row}{event}: {p['detail']}"


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def audit_report(report: dict) -> str:
    checked = f"{_count(report['claims'], 'claim')}, {_count(report['rows'], 'audit row')} checked"
    if report["intact"]:
        return f"audit trail intact: {checked}"
    lines = [audit_problem(p) for p in report["problems"]]
    claims = _count(len({p["claim_id"] for p in report["problems"]}), "claim")
    lines.append(f"{_count(report['total_problems'], 'problem')} in {claims} ({checked})")
    if report.get("note"):
        lines.append(f"note: {report['note']}")
    return "\n".join(lines)


# Finance: the payout ledger and reconciliations.

AGREED = ("matched", "no_money_moved")  # the kinds that are not discrepancies (finance/matching.py)
DETAIL = 160  # a finding's detail names two provider objects; longer ones are cut (the CSV has them whole)


@_printable
def payouts_page(page: dict) -> str:
    """The ledger page, then the totals of every matching payout (not only this page's) by day and by type."""
    items = page["items"]
    if items:
        rows = [
            [
                when(p["created_at"]),
                p["claim_id"],
                p["claim_type"],
                p["attempt"],
                p["status"],
                p["method"],
                money(p["amount_cents"], p["currency"]),
                p["provider_ref"] or p["failure_code"],
                when(p["completed_at"]),
            ]
            for p in items
        ]
        headers = ["CREATED (UTC)", "CLAIM", "TYPE", "ATTEMPT", "STATUS", "METHOD", "AMOUNT", "REFERENCE"]
        first = page["offset"] + 1
        out = [table([*headers, "COMPLETED (UTC)"], rows), f"{first}-{page['offset'] + len(items)} of {page['total']}"]
    elif page["total"]:
        out = [f"no payouts from {page['offset'] + 1} on ({page['total']} match)"]
    else:
        return "no payouts"
    out += _totals("Totals by day (UTC), every matching payout", "DAY", page["by_day"])
    out += _totals("Totals by claim type, every matching payout", "TYPE", page["by_type"])
    return "\n".join(out)


def _totals(title: str, group: str, totals: list[dict]) -> list[str]:
    rows = [[t["group"], t["status"], t["count"], money(t["amount_cents"], t["currency"])] for t in totals]
    return ["", title, *(f"  {line}" for line in table([group, "STATUS", "COUNT", "AMOUNT"], rows).splitlines())]


@_printable
def reconciliation(view: dict, offset: int = 0) -> str:
    """A reconciliation report: the run, its lines counted by kind, and its discrepancies as far as
    `view` holds them (the API pages them; `offset` is where this page starts)."""
    done = view["status"] == "done"
    n = view["discrepancies"]
    head = f"Reconciliation {view['id']}  {view['status'].upper()}"
    if done:
        head += ": no discrepancies" if not n else f": {n} discrepanc{'y' if n == 1 else 'ies'}"
    days = view["date_from"] if view["date_from"] == view["date_to"] else f"{view['date_from']} to {view['date_to']}"
    fields = [
        ("days", f"{days} (UTC, whole days)"),
        ("requested by", view["requested_by"] or "the daily schedule"),
        ("started", f"{when(view['started_at'])} UTC"),
        ("finished", f"{when(view['finished_at'])} UTC" if view["finished_at"] else "-"),
    ]
    out = [head, *(f"  {name:<14}{value}" for name, value in fields)]
    if not done:
        out += ["", "Lines by kind: when it is done"]
        return "\n".join(out)
    counts = [[kind, count, "no" if kind in AGREED else "yes"] for kind, count in view["counts"].items()]
    out += [
        "",
        "Lines by kind",
        *(f"  {line}" for line in table(["KIND", "COUNT", "DISCREPANCY"], counts).splitlines()),
    ]
    out += _findings(view, offset)
    return "\n".join(out)


def _findings(view: dict, offset: int) -> list[str]:
    items = view["findings"]
    total = view["discrepancies"]
    if not total:
        return ["", "Discrepancies: none"]
    rows = [
        [
            f["kind"],
            f["claim_id"],
            _plain(f["ledger_amount_cents"]),
            _plain(f["provider_amount_cents"]),
            f["currency"],
            f["ledger_ref"],
            f["provider_ref"],
            f["detail"],
        ]
        for f in items
    ]
    headers = ["KIND", "CLAIM", "LEDGER", "PROVIDER", "CURRENCY", "LEDGER REF", "PROVIDER REF", "DETAIL"]
    out = ["", f"Discrepancies ({total})"]
    if rows:
        out += [f"  {line}" for line in table(headers, rows, width=DETAIL).splitlines()]
    if len(items) < total:
        shown = f"{offset + 1}-{offset + len(items)}" if items else "none"
        out.append(f"  shown: {shown} of {total}; every one with --csv")
    return out


def _plain(cents: int | None) -> str | None:
    return None if cents is None else format_cents(cents)


@_printable
def reconciliations_table(views: list[dict]) -> str:
    if not views:
        return "no reconciliations yet: run one with `guarantee finance reconcile --from DAY --to DAY`"
    rows = [
        [
            v["id"],
            v["date_from"],
            v["date_to"],
            v["status"],
            v["discrepancies"] if v["status"] == "done" else None,
            v["requested_by"] or "schedule",
            when(v["started_at"]),
            when(v["finished_at"]),
        ]
        for v in views
    ]
    headers = ["ID", "FROM", "TO", "STATUS", "DISCREPANCIES", "REQUESTED BY", "STARTED (UTC)", "FINISHED (UTC)"]
    return table(headers, rows)


@_printable
def link_made(link: dict) -> str:
    return (
        f"link {link['id']} for the {link['party']} of claim {link['claim_id']}, works until "
        f"{when(link['expires_at'], seconds=False)} UTC\nURL (shown once; send it to them now): {link['url']}"
    )


def links_table(links: list[dict]) -> str:
    if not links:
        return "no links yet: make one with `guarantee claim link ID --party customer`"
    now = datetime.now(UTC)

    def state(link: dict) -> str:
        if link["revoked_at"]:
            return f"revoked {when(link['revoked_at'], seconds=False)} by {link['revoked_by']}"
        return "expired" if datetime.fromisoformat(link["expires_at"]) <= now else "works"

    rows = [
        [link["id"], link["party"], link["created_by"], when(link["created_at"], seconds=False),
         when(link["expires_at"], seconds=False), state(link)]
        for link in links
    ]  # fmt: skip
    return table(["ID", "PARTY", "MADE BY", "MADE (UTC)", "EXPIRES (UTC)", "STATE"], rows)


@_printable
def referral_line(r: dict) -> str:
    owner = f", taken by {r['owner']}" if r["owner"] else ""
    answered = f": {_text(r['answer'])}" if r["answer"] else ""
    return f"referral {r['id']} of claim {r['claim_id']} to {r['team']}: {r['status']}{owner}{answered}"


def referrals_table(found: list[dict]) -> str:
    if not found:
        return "no referrals"
    rows = [
        [r["id"], r["claim_id"], r["team"], r["status"], r["referred_by"], when(r["referred_at"], seconds=False),
         r["owner"] or "-", r["note"], r["answer"] or "-"]
        for r in found
    ]  # fmt: skip
    return table(["ID", "CLAIM", "TEAM", "STATUS", "ASKED BY", "ASKED (UTC)", "OWNER", "QUESTION", "ANSWER"], rows)


def _state(message: dict) -> str:
    state = message["state"]
    if message.get("claim_id") and state in ("joined", "opened"):
        return f"{state} (claim {message['claim_id']})"
    if message.get("reason"):
        return f"{state}: {message['reason']}"
    return state


@_printable
def inbox_table(page: dict) -> str:
    if not page["items"]:
        return "no messages"
    rows = [
        [m["id"], when(m["received_at"], seconds=False), m["sender"], m["subject"], len(m["attachments"]), _state(m)]
        for m in page["items"]
    ]
    shown = f"{page['offset'] + 1}-{page['offset'] + len(page['items'])} of {page['total']}"
    return table(["ID", "RECEIVED (UTC)", "FROM", "SUBJECT", "FILES", "STATE"], rows) + f"\n{shown}"


@_printable
def message_detail(message: dict) -> str:
    lines = [
        f"message {message['id']} from {message['sender']}, received {when(message['received_at'])} UTC "
        f"(by {message['via']})",
        f"subject: {message['subject']}",
        f"state:   {_state(message)}",
    ]
    if message["attachments"]:
        lines.append("attachments:")
        lines += [f"  {a['index']}. {a['filename']} ({a['content_type']}, {a['size_bytes']} bytes)"
                  for a in message["attachments"]]  # fmt: skip
    return "\n".join([*lines, "", message.get("text") or "(no text)"])
