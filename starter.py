"""The `guarantee` command line: run the product, manage users, work claims, read the books.

Claim and finance commands talk to the HTTP API: GUARANTEE_API_URL, else the address `guarantee up`
wrote under GUARANTEE_HOME, else http://127.0.0.1:8000; the token comes from --token or
GUARANTEE_TOKEN. Amounts are typed and shown as 1,250.00. Tables by default, --json for the API's
JSON. Errors are one line, `error: ...`, with a non-zero exit status.
"""

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path
from urllib.parse import quote

from cli import show
from cli.db import user_sessions
from cli.finance import csv_file, report_path, to_stdout, wait_until_done
from cli.http import Api, CliError, token_from
from rules.errors import DomainError
from schema.enums import (
    STAFF_ROLES,
    Channel,
    ClaimSort,
    ClaimStatus,
    ClaimType,
    DenialReason,
    EvidenceKind,
    EvidenceSource,
    HoldReason,
    MediationKind,
    MediationOutcome,
    PayoutStatus,
    ReferralStatus,
    Role,
    Severity,
    Team,
)
from schema.money import parse_amount

EXIT_DISCREPANCIES = 3  # `finance reconcile` found discrepancies: it worked, and finance has work to do
EXIT_TAMPERED = 3  # `audit verify` found rows edited, deleted or inserted: it worked, and someone must look


def emit(args, data, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def path(claim_id: str, *rest: str) -> str:
    return "/".join(["/claims", quote(claim_id, safe=""), *rest])


# Running the product.


def _serve(main) -> None:
    """Long-running processes run on uvloop: the API's requests and the worker's RPCs cost less of a core each."""
    import uvloop

    uvloop.run(main)


def cmd_up(args) -> int:
    from stack.worker_process import share_metrics

    share_metrics()  # before anything imports prometheus_client: the worker's process counts into the same files
    from up import run_up

    _serve(run_up(args.port, args.temporal_port, args.temporal_ui_port, args.smtp_port))
    return 0


def cmd_api(args) -> int:
    from up import run_up

    _serve(run_up(args.port, smtp_port=args.smtp_port, worker=False))
    return 0


def cmd_worker(args) -> int:
    from worker import run_worker

    _serve(run_worker())
    return 0


# Users.


def password_from_stdin() -> str:
    """One line from stdin, without its line ending: a password kept out of the shell's history and `ps`."""
    return sys.stdin.readline().removesuffix("\n").removesuffix("\r")


def cmd_users_add(args) -> int:
    from service import sign_in
    from service.users import add_user, operator

    password = password_from_stdin() if args.password_stdin else None
    with user_sessions() as sessions:
        try:
            if password is None:
                actor, token = add_user(sessions, args.name, Role(args.role), by=f"cli:{operator()}")
            else:
                actor, token = sign_in.add_user(sessions, args.name, Role(args.role), password, by=f"cli:{operator()}")
        except ValueError as err:  # a refused name or password (UserError), or a bad token lifetime
            raise CliError(str(err)) from None
    data = actor.model_dump(mode="json") | {"token": token, "password_set": password is not None}
    text = f"created {actor.name} ({actor.role.value}), id {actor.user_id}"
    text += ", who signs in to the web app with the password given" if password is not None else ""
    emit(args, data, f"{text}\ntoken (shown once): {token}")
    return 0


def cmd_users_list(args) -> int:
    from service.users import list_users

    with user_sessions() as sessions:
        users = [
            {"id": u.id, "name": u.name, "role": str(u.role), "created_at": u.created_at.isoformat()}
            | {"active": u.active, "token_expires_at": u.token_expires_at.isoformat()}
            for u in list_users(sessions)
        ]
    emit(args, users, show.users_table(users))
    return 0


def _change_user(change, *args, **kwargs):
    """Run a service change to a user on the database; its refusals (UserError and the rules') as one-line errors."""
    from service.users import operator

    with user_sessions() as sessions:
        try:
            return change(sessions, *args, by=f"cli:{operator()}", **kwargs)
        except DomainError as err:
            raise CliError(err.message) from None


def cmd_users_deactivate(args) -> int:
    from service.users import deactivate

    actor = _change_user(deactivate, args.name, reason=args.reason)
    data = actor.model_dump(mode="json") | {"active": False}
    text = (
        f"deactivated {actor.name} ({actor.role.value}), id {actor.user_id}: their token no longer works, "
        "and their actions not yet recorded are refused"
    )
    emit(args, data, text)
    return 0


def cmd_users_rotate_token(args) -> int:
    from service.users import rotate_token

    new = _change_user(rotate_token, args.name, reason=args.reason)
    data = new.actor.model_dump(mode="json") | {"token": new.token, "token_expires_at": new.expires_at.isoformat()}
    text = (
        f"new token for {new.actor.name} ({new.actor.role.value}), expires {new.expires_at:%Y-%m-%d %H:%M} UTC; "
        f"the old one no longer works\ntoken (shown once): {new.token}"
    )
    emit(args, data, text)
    return 0


def cmd_users_set_role(args) -> int:
    from service.users import set_role

    before = _change_user(set_role, args.name, Role(args.role), reason=args.reason)
    name = args.name.strip()
    text = f"{name} is now {args.role} (was {before}); their actions not yet recorded as {before} are refused"
    emit(args, {"name": name, "role": args.role, "was": before}, text)
    return 0


def cmd_users_set_password(args) -> int:
    from service.sign_in import set_password

    ended = _change_user(set_password, args.name, password_from_stdin(), reason=args.reason)
    name = args.name.strip()
    text = f"new password for {name}; {ended} open web session{'' if ended == 1 else 's'} ended"
    emit(args, {"name": name, "password_set": True, "sessions_ended": ended}, text)
    return 0


def cmd_users_history(args) -> int:
    from service.users import UserError, history

    with user_sessions() as sessions:
        try:
            changes = history(sessions, args.name)
        except UserError as err:
            raise CliError(str(err)) from None
    rows = [
        {"at": c.at.isoformat(), "user": name, "user_id": c.user_id, "change": c.change}
        | {"detail": c.detail, "by": c.by, "reason": c.reason}
        for c, name in changes
    ]
    emit(args, rows, show.user_changes_table(rows))
    return 0


# The audit trail, on the database directly, with the audit key.


def _audit_key() -> str:
    from stack.config import audit_key, load_settings

    return audit_key(load_settings())


def cmd_audit_verify(args) -> int:
    from service.audit import verify

    with user_sessions() as sessions:
        try:
            report = verify(sessions, _audit_key(), args.claim or None)
        except DomainError as err:
            raise CliError(err.message) from None
    emit(args, report.model_dump(mode="json"), show.audit_report(report.model_dump(mode="json")))
    return 0 if report.intact else EXIT_TAMPERED


def cmd_audit_seal_legacy(args) -> int:
    from service.audit import seal_legacy

    with user_sessions() as sessions:
        sealed = seal_legacy(sessions, _audit_key())
    emit(args, {"sealed": sealed}, f"sealed {sealed} audit rows written before the chain existed")
    return 0


# Claims, through the HTTP API.


def api(args) -> Api:
    return Api(token_from(args.token))


def cmd_claim_open(args) -> int:
    body = {
        "customer_id": args.customer,
        "pro_id": args.pro,
        "project_id": args.project,
        "type": args.type,
        "amount_cents": args.amount,
        "currency": args.currency,
        "incident_date": args.incident_date.isoformat(),
        "channel": args.channel,
        "description": args.description,
    }
    details = payout_details(args)
    if details:
        body["payout"] = details
    body |= contacts(args)
    with api(args) as client:
        claim = client.post("/claims", body)
    emit(args, claim, show.claim_line(claim, payout=details is not None))
    return 0


def payout_details(args) -> dict | None:
    """--account or --charge as the API's payout details; None when neither is given."""
    if args.account:
        return {"method": "transfer", "account_id": args.account}
    if args.charge:
        return {"method": "refund", "charge_id": args.charge}
    return None


def contacts(args) -> dict:
    """--customer-email and --pro-email as the API's fields; only those given."""
    given = {"customer_email": args.customer_email, "pro_email": args.pro_email}
    return {k: v for k, v in given.items() if v}


def cmd_claim_contacts(args) -> int:
    if not (args.customer_email or args.pro_email):
        raise CliError("give --customer-email, --pro-email or both")
    with api(args) as client:
        claim = client.put(path(args.id, "contacts"), contacts(args))
    emit(args, claim, show.claim_line(claim))
    return 0


def cmd_claim_list(args) -> int:
    with api(args) as client:
        page = client.get(
            "/claims",
            status=args.status,
            type=args.type,
            assignee=args.assignee,
            awaiting="me" if args.awaiting_me else None,
            stuck="true" if args.stuck else None,
            held="true" if args.held else None,
            sort=args.sort,
            limit=args.limit,
            offset=args.offset,
        )
    emit(args, page, show.claims_table(page))
    return 0


def cmd_claim_show(args) -> int:
    with api(args) as client:
        claim = client.get(path(args.id))
    emit(args, claim, show.claim_detail(claim))
    return 0


def cmd_claim_evidence(args) -> int:
    if not args.note and not args.file:
        raise CliError("evidence needs --note, --file or both")
    fields = {"kind": args.kind, "source": args.source}
    if args.note:
        fields["note"] = args.note
    with api(args) as client:
        if args.file:
            claim = client.post(path(args.id, "evidence"), data=fields, file=args.file)
        else:
            claim = client.post(path(args.id, "evidence"), fields)
    emit(args, claim, show.claim_line(claim))
    return 0


def cmd_claim_link(args) -> int:
    body = {"party": args.party} | ({"days": args.days} if args.days is not None else {})
    with api(args) as client:
        link = client.post(path(args.id, "links"), body)
    emit(args, link, show.link_made(link))
    return 0


def cmd_claim_links(args) -> int:
    with api(args) as client:
        found = client.get(path(args.id, "links"))
    emit(args, found, show.links_table(found))
    return 0


def cmd_claim_revoke_link(args) -> int:
    with api(args) as client:
        link = client.post(path(args.id, "links", str(args.link_id), "revoke"))
    emit(args, link, f"link {link['id']} for the {link['party']} of claim {link['claim_id']} revoked")
    return 0


def cmd_claim_refer(args) -> int:
    with api(args) as client:
        referral = client.post(path(args.id, "referrals"), {"team": args.team, "note": args.note})
    emit(args, referral, show.referral_line(referral))
    return 0


def cmd_referrals_list(args) -> int:
    with api(args) as client:
        found = client.get("/referrals", team=args.team, status=args.status, claim_id=args.claim)
    emit(args, found, show.referrals_table(found))
    return 0


def cmd_referrals_take(args) -> int:
    with api(args) as client:
        referral = client.post(f"/referrals/{args.referral_id}/take")
    emit(args, referral, show.referral_line(referral))
    return 0


def cmd_referrals_answer(args) -> int:
    with api(args) as client:
        referral = client.post(f"/referrals/{args.referral_id}/answer", {"answer": args.answer})
    emit(args, referral, show.referral_line(referral))
    return 0


def _act(args, *route: str, body: dict | None = None, payout: bool = False) -> int:
    with api(args) as client:
        claim = client.post(path(args.id, *route), body)
    emit(args, claim, show.claim_line(claim, payout=payout))
    return 0


def cmd_claim_ask_pro(args) -> int:
    return _act(args, "pro-statement")


def cmd_outbox_list(args) -> int:
    """The outbox folder under GUARANTEE_HOME (mail kept there when GUARANTEE_SMTP_OUT is unset), newest first."""
    from mail.out import outbox_entries
    from stack.config import load_settings

    found = []
    for entry in outbox_entries(load_settings().outbox_dir):
        m = entry.message()
        found.append({"id": entry.id, "to": m["To"], "subject": m["Subject"], "message_id": m["Message-ID"]})
    text = "\n".join(f"{f['id']:<40} {f['to']:<30} {f['subject']}" for f in found) or "the outbox is empty"
    emit(args, found, text)
    return 0


def cmd_outbox_show(args) -> int:
    from mail.out import body_text, outbox_entry
    from stack.config import load_settings

    entry = outbox_entry(load_settings().outbox_dir, args.mail_id)
    if entry is None:
        raise CliError(f"no mail {args.mail_id!r} in the outbox (`guarantee outbox` lists them)")
    m = entry.message()
    headers = {name: m[name] for name in ("From", "To", "Subject", "Message-ID", "Date") if m[name]}
    body = body_text(m)
    emit(args, headers | {"body": body}, "\n".join(f"{k}: {v}" for k, v in headers.items()) + "\n\n" + body)
    return 0


def cmd_claim_complete_evidence(args) -> int:
    return _act(args, "evidence", "complete")


def cmd_claim_decide(args) -> int:
    if args.approve is not None:
        body = {"outcome": "approve", "amount_cents": args.approve, "rationale": args.rationale}
    else:
        body = {"outcome": "deny", "reason_code": args.deny, "rationale": args.rationale}
    return _act(args, "decision", body=body)


def cmd_claim_approve(args) -> int:
    """Approves the decision and the payout details it pays, as this command read them."""
    with api(args) as client:
        claim = client.get(path(args.id))
        body = {"verdict": "approve", "note": args.note, "payout_details_id": claim.get("payout_details_id")}
        claim = client.post(path(args.id, "approval"), body)
    emit(args, claim, show.claim_line(claim, payout=True))
    return 0


def cmd_claim_send_back(args) -> int:
    return _act(args, "approval", body={"verdict": "send_back", "note": args.note})


def cmd_claim_assign(args) -> int:
    return _act(args, "assignee", body={"assignee": args.to, "reason": args.reason})


def cmd_claim_severity(args) -> int:
    return _act(args, "severity", body={"severity": args.severity, "reason": args.reason})


def cmd_claim_hold(args) -> int:
    return _act(args, "hold", body={"reason_code": args.reason_code, "note": args.note})


def cmd_claim_release(args) -> int:
    return _act(args, "hold", "release", body={"note": args.note})


def cmd_claim_mediate(args) -> int:
    body = {"kind": args.kind, "terms": args.terms, "evidence_ids": args.evidence, "follow_up_by": args.follow_up_by}
    return _act(args, "mediation", body=body)


def cmd_claim_mediation(args) -> int:
    return _act(args, "mediation", "outcome", body={"outcome": args.outcome, "note": args.note})


def cmd_claim_withdraw(args) -> int:
    return _act(args, "withdraw", body={"reason": args.reason})


def cmd_claim_payout_details(args) -> int:
    with api(args) as client:
        claim = client.put(path(args.id, "payout-details"), payout_details(args))
    emit(args, claim, show.claim_line(claim, payout=True))
    return 0


def cmd_claim_payout_retry(args) -> int:
    body = {"reason": args.reason}
    details = payout_details(args)
    if details:
        body["payout"] = details
    return _act(args, "payout", "retry", body=body, payout=True)


def cmd_claim_payout_cancel(args) -> int:
    return _act(args, "payout", "cancel", body={"reason": args.reason})


# The intake inbox (email in), through the HTTP API.


def message_path(message_id: int, *rest: str) -> str:
    return "/".join(["/inbox", str(message_id), *rest])


def cmd_inbox_list(args) -> int:
    with api(args) as client:
        state = None if args.state == "all" else args.state
        page = client.get("/inbox", state=state, limit=args.limit, offset=args.offset)
    emit(args, page, show.inbox_table(page))
    return 0


def cmd_inbox_show(args) -> int:
    with api(args) as client:
        message = client.get(message_path(args.id))
    emit(args, message, show.message_detail(message))
    return 0


def cmd_inbox_open(args) -> int:
    """A claim from the message: the flags of `claim open`; the message gives the description and the
    customer's email when they are left out."""
    body = {
        "customer_id": args.customer,
        "pro_id": args.pro,
        "project_id": args.project,
        "type": args.type,
        "amount_cents": args.amount,
        "currency": args.currency,
        "incident_date": args.incident_date.isoformat(),
        "channel": args.channel,
    }
    if args.description:
        body["description"] = args.description
    details = payout_details(args)
    if details:
        body["payout"] = details
    body |= contacts(args)
    with api(args) as client:
        claim = client.post(message_path(args.id, "claim"), body)
    emit(args, claim, show.claim_line(claim, payout=details is not None))
    return 0


def cmd_inbox_dismiss(args) -> int:
    with api(args) as client:
        message = client.post(message_path(args.id, "dismiss"), {"reason": args.reason})
    emit(args, message, f"message {message['id']} dismissed: {message['reason']}")
    return 0


# Finance, through the HTTP API.


def cmd_finance_payouts(args) -> int:
    days = {"from": args.date_from and args.date_from.isoformat(), "to": args.date_to and args.date_to.isoformat()}
    with api(args) as client:
        if args.csv:
            to_stdout(client.text("/payouts", **days, status=args.status, type=args.type))
            return 0
        page = client.get("/payouts", **days, status=args.status, type=args.type, limit=args.limit, offset=args.offset)
    emit(args, page, show.payouts_page(page))
    return 0


def cmd_finance_reconcile(args) -> int:
    body = {"from": args.date_from.isoformat(), "to": args.date_to.isoformat()}
    with csv_file(args.csv) as csv_out, api(args) as client:
        run_id = client.post("/reconciliations", body)["id"]
        if sys.stderr.isatty():
            print(f"{run_id} is reconciling {body['from']} to {body['to']} ...", file=sys.stderr)
        wait_until_done(client, run_id, args.wait_seconds)
        report = client.get(report_path(run_id), limit=args.limit)
        if csv_out:
            csv_out.save(client.text(report_path(run_id)))
    saved = f"\n\nevery discrepancy, as CSV: {args.csv}" if args.csv else ""
    emit(args, report, show.reconciliation(report) + saved)
    return EXIT_DISCREPANCIES if report["discrepancies"] else 0


def cmd_finance_report(args) -> int:
    with api(args) as client:
        if args.csv:
            to_stdout(client.text(report_path(args.id)))
            return 0
        report = client.get(report_path(args.id), limit=args.limit, offset=args.offset)
    emit(args, report, show.reconciliation(report, args.offset))
    return 0


def cmd_finance_reconciliations(args) -> int:
    with api(args) as client:
        runs = client.get("/reconciliations", limit=args.limit)
    emit(args, runs, show.reconciliations_table(runs))
    return 0


# KPIs, through the HTTP API.


def cmd_kpis(args) -> int:
    from cli import kpis

    days = {"from": args.date_from and args.date_from.isoformat(), "to": args.date_to and args.date_to.isoformat()}
    with api(args) as client:
        if args.csv:
            to_stdout(client.text("/kpis", **days, by=args.by))
            return 0
        found = client.get("/kpis", **days, by=args.by)
    emit(args, found, kpis.report(found))
    return 0


def cmd_signals(args) -> int:
    from cli import kpis

    with api(args) as client:
        found = client.get("/signals", at=args.at and args.at.isoformat())
    emit(args, found, kpis.signals(found))
    return 0


def cmd_digests(args) -> int:
    from cli import kpis

    with api(args) as client:
        if args.id:
            found = client.get(f"/digests/{quote(args.id, safe='')}")
            emit(args, found, kpis.digest(found))
        else:
            found = client.get("/digests", limit=args.limit)
            emit(args, found, kpis.digests(found))
    return 0


def cmd_demo_seed(args) -> int:
    from cli.demo import seed

    seed(json_out=args.json)
    return 0


# The parser.


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """Usage mistakes, like every other error, are one line."""
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def amount(text: str) -> int:
    try:
        return parse_amount(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (write it like 2025-03-31)") from None


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def whole(low: int, high: int | None = None):
    """An argument type: a whole number from `low` (to `high`, if given)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"not a whole number {bounds}: {text!r}")
        return value

    return parse


def values(enum) -> list[str]:
    return [e.value for e in enum]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="guarantee", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    out = Parser(add_help=False)
    out.add_argument("--json", action="store_true", help="print JSON (the API's, for claims) instead of a table")
    token = Parser(add_help=False)
    token.add_argument("--token", help="API token (default: GUARANTEE_TOKEN)")
    remote = Parser(add_help=False, parents=[out, token])

    def command(parent, name: str, func, help: str, parents=(remote,)) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help, description=help, parents=list(parents))
        p.set_defaults(func=func)
        return p

    def payout_to(p: argparse.ArgumentParser, required: bool) -> None:
        where = p.add_mutually_exclusive_group(required=required)
        where.add_argument("--account", metavar="ACCOUNT", help="pay by transfer to this connected account, acct_...")
        where.add_argument(
            "--charge", metavar="CHARGE", help="pay by refund of this charge, ch_... (work_not_done, not_as_agreed)"
        )

    def emails(p: argparse.ArgumentParser) -> None:
        p.add_argument("--customer-email", metavar="ADDRESS", help="where mail to the customer goes")
        p.add_argument("--pro-email", metavar="ADDRESS", help="where mail to the pro goes")

    serving = Parser(add_help=False)
    serving.add_argument("--port", type=int, metavar="PORT", help="HTTP API port (default: GUARANTEE_API_PORT or 8000)")
    serving.add_argument("--smtp-port", type=int, metavar="PORT", help="mail in (default: GUARANTEE_SMTP_PORT or 2525)")
    up = command(
        sub, "up", cmd_up, "run Temporal, the worker and the HTTP API (ports taken or 0: free ones)", parents=(serving,)
    )
    up.add_argument("--temporal-port", type=int, metavar="PORT", help="Temporal dev server port (default: 7233)")
    up.add_argument("--temporal-ui-port", type=int, metavar="PORT", help="its web UI port (default: 8233)")
    api_help = "run only the web app, the HTTP API and mail in, against TEMPORAL_ADDRESS; workers run apart"
    command(sub, "api", cmd_api, f"{api_help} (`guarantee worker`)", parents=(serving,))
    command(sub, "worker", cmd_worker, "run only a worker, against TEMPORAL_ADDRESS and STRIPE_API_BASE", parents=())

    users = sub.add_parser("users", help="manage users and their API tokens").add_subparsers(
        dest="users_command", required=True, metavar="COMMAND"
    )
    add = command(users, "add", cmd_users_add, "create a user and print their token once", parents=(out,))
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=values(STAFF_ROLES))
    add.add_argument("--password-stdin", action="store_true", help="read their web password from stdin (one line)")
    command(users, "list", cmd_users_list, "list the users", parents=(out,))
    reason = Parser(add_help=False)
    reason.add_argument("--reason", help="why, kept with the change")
    p = command(users, "deactivate", cmd_users_deactivate, "deactivate a user: their token stops working at once",
                parents=(out, reason))  # fmt: skip
    p.add_argument("name")
    p = command(users, "rotate-token", cmd_users_rotate_token, "give a user a new token (printed once); the old one "
                "stops working", parents=(out, reason))  # fmt: skip
    p.add_argument("name")
    p = command(users, "set-role", cmd_users_set_role, "give a user another role", parents=(out, reason))
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=values(STAFF_ROLES))
    p = command(users, "set-password", cmd_users_set_password, "set a user's web password, read from stdin; "
                "their open web sessions end", parents=(out, reason))  # fmt: skip
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", required=True, help="read it from stdin (one line)")
    p = command(users, "history", cmd_users_history, "changes to users, oldest first: who made each", parents=(out,))
    p.add_argument("name", nargs="?", help="only this user's")

    outbox_help = "mail kept in GUARANTEE_HOME/outbox when no GUARANTEE_SMTP_OUT is set, newest first"
    outbox = command(sub, "outbox", cmd_outbox_list, outbox_help, parents=(out,))
    outbox = outbox.add_subparsers(dest="outbox_command", required=False, metavar="COMMAND")
    p = command(outbox, "show", cmd_outbox_show, "one mail from the outbox: its headers and text", parents=(out,))
    p.add_argument("mail_id", metavar="ID", help="as `guarantee outbox` lists it")

    audit = sub.add_parser("audit", help="check the tamper-evident audit trail (on the database directly)")
    audit = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    p = command(audit, "verify", cmd_audit_verify, "walk every claim's audit chain; name each row edited, deleted "
                "or inserted", parents=(out,))  # fmt: skip
    p.add_argument("--claim", action="append", metavar="ID", help="only this claim (may be repeated)")
    p.epilog = (
        f"Exit status: 0 when every chain is intact, {EXIT_TAMPERED} when rows were edited, deleted or inserted "
        "(one line each), 1 on an error, 2 on a usage mistake. Needs the audit key the worker seals with: "
        "GUARANTEE_AUDIT_KEY, else GUARANTEE_HOME/audit-key."
    )
    command(audit, "seal-legacy", cmd_audit_seal_legacy, "seal the audit rows written before the chain existed, as "
            "they are now (once, after upgrading)", parents=(out,))  # fmt: skip

    claim = sub.add_parser("claim", help="open, work and read claims (through the HTTP API)").add_subparsers(
        dest="claim_command", required=True, metavar="COMMAND"
    )
    p = command(claim, "open", cmd_claim_open, "open a claim (specialist)")
    p.add_argument("--customer", required=True, help="customer id")
    p.add_argument("--pro", required=True, help="pro id")
    p.add_argument("--project", required=True, help="project id")
    p.add_argument("--type", required=True, choices=values(ClaimType))
    p.add_argument("--amount", required=True, type=amount, help="amount claimed, e.g. 1,250.00")
    p.add_argument("--currency", default="USD")
    p.add_argument("--incident-date", required=True, type=day, help="YYYY-MM-DD")
    p.add_argument("--channel", required=True, choices=values(Channel))
    p.add_argument("--description", required=True)
    payout_to(p, required=False)
    emails(p)

    p = command(claim, "contacts", cmd_claim_contacts, "set the customer's or the pro's email address")
    p.add_argument("id")
    emails(p)

    p = command(claim, "list", cmd_claim_list, "list claims, newest first")
    p.add_argument("--status", choices=values(ClaimStatus))
    p.add_argument("--type", choices=values(ClaimType))
    p.add_argument("--assignee", help="a user id, or a queue such as tier:lead")
    p.add_argument("--awaiting-me", action="store_true", help="only claims waiting on you")
    p.add_argument("--stuck", action="store_true", help="only claims whose process could not record a step")
    p.add_argument("--held", action="store_true", help="only claims on legal hold")
    p.add_argument("--sort", choices=values(ClaimSort), help="severity: most severe first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)

    p = command(claim, "show", cmd_claim_show, "a claim with its evidence, decisions, approvals, payouts and timeline")
    p.add_argument("id")

    p = command(claim, "evidence", cmd_claim_evidence, "add evidence: a note, a file, or both")
    p.add_argument("id")
    p.add_argument("--kind", required=True, choices=values(EvidenceKind))
    p.add_argument("--source", required=True, choices=values(EvidenceSource))
    p.add_argument("--note")
    p.add_argument("--file", type=Path, help="a file to upload (photo, invoice, ...)")

    p = command(claim, "link", cmd_claim_link, "make a link through which the customer or the pro adds evidence; "
                "its URL is printed once")  # fmt: skip
    p.add_argument("id")
    p.add_argument("--party", required=True, choices=["customer", "pro"])
    p.add_argument("--days", type=whole(1, 30), help="how long it works (default 7, at most 30)")

    p = command(claim, "links", cmd_claim_links, "a claim's evidence links: party, expiry, revoked")
    p.add_argument("id")

    p = command(claim, "revoke-link", cmd_claim_revoke_link, "stop an evidence link working, at once")
    p.add_argument("id")
    p.add_argument("link_id", type=whole(1))

    p = command(claim, "refer", cmd_claim_refer, "hand a question about the claim to another team")
    p.add_argument("id")
    p.add_argument("--team", required=True, choices=values(Team))
    p.add_argument("--note", required=True, help="what the team is asked")

    referrals = sub.add_parser("referrals", help="claims' questions handed to other teams").add_subparsers(
        dest="referrals_command", required=True, metavar="COMMAND"
    )
    p = command(referrals, "list", cmd_referrals_list, "referrals, oldest first")
    p.add_argument("--team", choices=values(Team))
    p.add_argument("--status", choices=values(ReferralStatus))
    p.add_argument("--claim", metavar="CLAIM_ID", help="only this claim's")
    p = command(referrals, "take", cmd_referrals_take, "take a team's open referral: you answer it")
    p.add_argument("referral_id", type=whole(1))
    p = command(referrals, "answer", cmd_referrals_answer, "answer a referral you took")
    p.add_argument("referral_id", type=whole(1))
    p.add_argument("--answer", required=True)

    ask_help = "ask the pro for their statement: mailed a signed evidence link, due in the policy's days"
    p = command(claim, "ask-pro", cmd_claim_ask_pro, ask_help)
    p.add_argument("id")

    p = command(claim, "complete-evidence", cmd_claim_complete_evidence, "end evidence collection")
    p.add_argument("id")

    p = command(claim, "decide", cmd_claim_decide, "decide: pay an amount, or deny with a reason code")
    p.add_argument("id")
    outcome = p.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--approve", type=amount, metavar="AMOUNT", help="pay this amount, e.g. 1,000.00")
    reasons = values(DenialReason)
    outcome.add_argument("--deny", choices=reasons, metavar="REASON_CODE", help=", ".join(reasons))
    p.add_argument("--rationale", required=True)

    p = command(claim, "approve", cmd_claim_approve, "confirm the pending decision (approver)")
    p.add_argument("id")
    p.add_argument("--note", default="")

    p = command(claim, "send-back", cmd_claim_send_back, "send the decision back to the specialist (approver)")
    p.add_argument("id")
    p.add_argument("--note", required=True)

    p = command(claim, "assign", cmd_claim_assign, "hand a claim's casework to another person (lead and above)")
    p.add_argument("id")
    p.add_argument("--to", required=True, metavar="USER", help="the new assignee: a user id or name")
    p.add_argument("--reason", required=True)

    p = command(claim, "severity", cmd_claim_severity, "change how urgent a claim is, with a reason (policy v4 on)")
    p.add_argument("id")
    p.add_argument("severity", choices=values(Severity))
    p.add_argument("--reason", required=True)

    p = command(claim, "hold", cmd_claim_hold, "put a claim on legal hold: its deadlines stop, no payout starts")
    p.add_argument("id")
    p.add_argument("--reason-code", required=True, choices=values(HoldReason))
    p.add_argument("--note", required=True)

    p = command(claim, "release", cmd_claim_release, "release a claim's legal hold (legal)")
    p.add_argument("id")
    p.add_argument("--note", required=True)

    mediate_help = "record an agreement between the customer and the pro, followed up until a day (policy v5 on)"
    p = command(claim, "mediate", cmd_claim_mediate, mediate_help)
    p.add_argument("id")
    p.add_argument("--kind", required=True, choices=values(MediationKind))
    p.add_argument("--terms", required=True)
    p.add_argument("--evidence", required=True, type=int, nargs="+", metavar="ID", help="the evidence that shows it")
    p.add_argument("--follow-up-by", required=True, metavar="YYYY-MM-DD", help="the claim waits until this day ends")

    outcome_help = "what the customer said of the agreement: kept (the claim ends, unpaid) or broken (back to review)"
    p = command(claim, "mediation", cmd_claim_mediation, outcome_help)
    p.add_argument("id")
    p.add_argument("outcome", choices=[MediationOutcome.kept.value, MediationOutcome.broken.value])
    p.add_argument("--note", required=True)

    p = command(claim, "withdraw", cmd_claim_withdraw, "withdraw a claim before money moves")
    p.add_argument("id")
    p.add_argument("--reason", required=True)

    details_help = "set where the money goes: a transfer (--account) or a refund (--charge); needed to approve"
    p = command(claim, "payout-details", cmd_claim_payout_details, details_help)
    p.add_argument("id")
    payout_to(p, required=True)

    retry_help = "pay a payout_failed claim again, as a new attempt, to new details if given (finance)"
    p = command(claim, "payout-retry", cmd_claim_payout_retry, retry_help)
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    payout_to(p, required=False)

    p = command(claim, "payout-cancel", cmd_claim_payout_cancel, "end a payout_failed claim unpaid (finance)")
    p.add_argument("id")
    p.add_argument("--reason", required=True)

    inbox = sub.add_parser(
        "inbox", help="email that names no claim: open a claim from it, or dismiss it", parents=[remote]
    )
    inbox.set_defaults(func=cmd_inbox_list, state="inbox", limit=50, offset=0)
    inbox_sub = inbox.add_subparsers(dest="inbox_command", metavar="COMMAND")
    states = ["inbox", "joined", "quarantined", "refused", "opened", "dismissed"]
    p = command(inbox_sub, "list", cmd_inbox_list, "messages received, newest first (default: those in the inbox)")
    p.add_argument("--state", choices=[*states, "all"], default="inbox", help="which (default: inbox; all: every one)")
    p.add_argument("--limit", type=whole(1, 500), default=50)
    p.add_argument("--offset", type=whole(0), default=0)
    p = command(inbox_sub, "show", cmd_inbox_show, "a message: its sender, state, attachments and text")
    p.add_argument("id", type=whole(1))
    p = command(inbox_sub, "open", cmd_inbox_open, "open a claim from a message in the inbox; its attachments "
                "become the customer's evidence")  # fmt: skip
    p.add_argument("id", type=whole(1))
    p.add_argument("--customer", required=True, help="customer id")
    p.add_argument("--pro", required=True, help="pro id")
    p.add_argument("--project", required=True, help="project id")
    p.add_argument("--type", required=True, choices=values(ClaimType))
    p.add_argument("--amount", required=True, type=amount, help="amount claimed, e.g. 1,250.00")
    p.add_argument("--currency", default="USD")
    p.add_argument("--incident-date", required=True, type=day, help="YYYY-MM-DD")
    p.add_argument("--channel", default="email", choices=values(Channel))
    p.add_argument("--description", help="default: the message's text")
    payout_to(p, required=False)
    emails(p)
    p = command(inbox_sub, "dismiss", cmd_inbox_dismiss, "not a claim: the message leaves the inbox, with the reason")
    p.add_argument("id", type=whole(1))
    p.add_argument("--reason", required=True)

    finance = sub.add_parser(
        "finance", help="the payout ledger and reconciliations against the provider (finance, admin)"
    ).add_subparsers(dest="finance_command", required=True, metavar="COMMAND")

    def days(p: argparse.ArgumentParser, required: bool) -> None:
        bound = "" if required else "; default: no bound"
        p.add_argument("--from", dest="date_from", type=day, required=required, metavar="DAY",
                       help=f"first day, YYYY-MM-DD (UTC{bound})")  # fmt: skip
        p.add_argument("--to", dest="date_to", type=day, required=required, metavar="DAY",
                       help=f"last day, included (UTC{bound})")  # fmt: skip

    def json_or_csv(p: argparse.ArgumentParser, csv_help: str) -> None:
        fmt = p.add_mutually_exclusive_group()
        fmt.add_argument("--json", action="store_true", help="print the API's JSON instead of tables")
        fmt.add_argument("--csv", action="store_true", help=csv_help)

    ledger_help = "the payout ledger, newest first, with totals by day and by type"
    p = command(finance, "payouts", cmd_finance_payouts, ledger_help, parents=(token,))
    days(p, required=False)
    p.add_argument("--status", choices=values(PayoutStatus))
    p.add_argument("--type", choices=values(ClaimType), help="claim type")
    p.add_argument("--limit", type=whole(1, 500), default=100, help="payouts listed (default 100, at most 500)")
    p.add_argument("--offset", type=whole(0), default=0)
    json_or_csv(p, "print every matching payout as CSV (amounts like 1234.56; --limit and --offset do not apply)")

    p = command(
        finance,
        "reconcile",
        cmd_finance_reconcile,
        "match the ledger against the provider's transfers and refunds for whole UTC days; wait for the report",
    )
    p.epilog = (
        f"Exit status: 0 when the report has no discrepancies, {EXIT_DISCREPANCIES} when it has some (the report is "
        "printed all the same), 1 on an error (including the wait running out: the reconciliation goes on, read it "
        "with `guarantee finance report ID`), 2 on a usage mistake."
    )
    days(p, required=True)
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write every discrepancy to FILE as CSV")
    p.add_argument(
        "--limit", type=whole(0, 5_000), default=100, help="discrepancies listed (default 100; --csv has them all)"
    )
    p.add_argument("--wait-seconds", type=seconds, default=600, metavar="SECONDS",
                   help="how long to wait for the report (default 600)")  # fmt: skip

    p = command(finance, "report", cmd_finance_report, "a reconciliation's report: counts by kind and discrepancies",
                parents=(token,))  # fmt: skip
    p.add_argument("id", help="the reconciliation's id (reconciliation-...)")
    p.add_argument(
        "--limit", type=whole(0, 5_000), default=100, help="discrepancies listed (default 100, at most 5000)"
    )
    p.add_argument("--offset", type=whole(0), default=0)
    json_or_csv(p, "print every discrepancy as CSV instead")

    p = command(finance, "reconciliations", cmd_finance_reconciliations, "recent reconciliations, newest first")
    p.add_argument("--limit", type=whole(1, 500), default=50, help="runs listed (default 50, at most 500)")

    kpi_help = "the KPI report for whole UTC days, in total and by a breakdown (leads and above, finance, admin)"
    p = command(sub, "kpis", cmd_kpis, kpi_help, parents=(token,))
    p.add_argument(
        "--from",
        dest="date_from",
        type=day,
        metavar="DAY",
        help="first day, YYYY-MM-DD (UTC; default: 6 days before --to)",
    )
    p.add_argument("--to", dest="date_to", type=day, metavar="DAY", help="last day, included (UTC; default: today)")
    p.add_argument("--by", choices=["none", "type", "channel", "tier", "specialist", "week"], default="none",
                   help="break the figures down (default: none)")  # fmt: skip
    json_or_csv(p, "print the total and each group as CSV rows instead")

    p = command(sub, "signals", cmd_signals, "trend and risk signals across claims (leads and above, finance, admin)")
    p.add_argument("--at", type=day, metavar="DAY", help="as at the end of this UTC day (default: now)")

    p = command(
        sub, "digests", cmd_digests, "the weekly digests: last week's KPIs and new signals (leads and above, ...)"
    )
    p.add_argument("id", nargs="?", help="one digest in full (digest-YYYY-MM-DD); without it, the list")
    p.add_argument("--limit", type=int, default=52, help="how many, newest first (default: 52)")

    demo = sub.add_parser("demo", help="demo data")
    demo = demo.add_subparsers(dest="demo_command", required=True, metavar="COMMAND")
    seed_help = "create demo users and claims in different states (needs `guarantee up`)"
    command(demo, "seed", cmd_demo_seed, seed_help, parents=(out,))
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return args.func(args)
    except CliError as err:
        print(show.clean(f"error: {err}"), file=sys.stderr)
    except KeyboardInterrupt as stop:
        print(f"error: {stop or 'interrupted'}", file=sys.stderr)
        return 130
    except SystemExit as exit_:
        if not isinstance(exit_.code, str):
            raise
        print(exit_.code, file=sys.stderr)
    except Exception as err:  # one line for people; GUARANTEE_DEBUG=1 shows the traceback
        if os.environ.get("GUARANTEE_DEBUG"):
            raise
        reason = " ".join(show.clean(str(err), keep="\t\n").split()) or "no details"
        print(f"error: {type(err).__name__}: {reason[:300]} (GUARANTEE_DEBUG=1 for details)", file=sys.stderr)
    return 1


def cli() -> None:
    sys.exit(main())


if __name__ == "__main__":
    cli()
