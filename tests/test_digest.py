"""The weekly digest: built by DigestWorkflow for a planted week under time skipping, kept, mailed once, read back;
and its Monday Schedule, created once by `up`.

The weeks are in 2061 and 2062, where no other test plants claims.
"""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.digest import DigestActivities, digest_id
from mail.out import Mailer, Outbox
from schema.digests import DigestBuilt
from schema.enums import ClaimStatus as S
from schema.enums import Role
from schema.names import DIGEST_SCHEDULE_ID
from schema.policy import load_policy
from schema.signals import load_signal_rules
from service import digests
from service.users import add_user
from stack import search_attributes as sa
from stack.temporal import DEV_SERVER
from tests.codec_key import CONVERTER
from tests.planting import Event, Planter
from tests.test_api import assert_error, auth
from tests.test_cli import cli as cli  # noqa: F401 (a fixture)
from workflows.digest import DigestWorkflow, last_week

WEEK = date(2061, 3, 7)  # a Monday
H = timedelta(hours=1)


class Counting:
    """An outbox that counts what it delivered."""

    def __init__(self, folder):
        self.outbox, self.sent = Outbox(folder), []

    def deliver(self, message) -> None:
        self.sent.append(message["Message-ID"])
        self.outbox.deliver(message)

    def describe(self) -> str:
        return "counting"


def plant_week(sessions, week: date) -> dict:
    """The week: three claims on one pro (one paid, one denied), and a repeat customer who was one already."""
    person, _ = add_user(sessions, f"digest-{uuid.uuid4().hex[:8]}", Role.specialist)
    p, who = Planter(sessions), person.user_id
    monday = datetime(week.year, week.month, week.day, 9, tzinfo=UTC)
    pro, customer = f"pro_dg_{uuid.uuid4().hex[:6]}", f"cus_dg_{uuid.uuid4().hex[:6]}"
    # The week before: the customer's two claims (a repeat customer before the week began).
    p.claim(who, monday - 6 * 24 * H, customer=customer, type="work_not_done")
    p.claim(who, monday - 5 * 24 * H, customer=customer, type="work_not_done")
    paid = p.claim(
        who,
        monday + H,
        [
            Event("decided", monday + 2 * H, S.pending_approval),
            Event("approved", monday + 3 * H, S.approved),
            Event("paid", monday + 4 * H, S.paid),
        ],
        pro=pro,
        decided_by=who,
        approved_cents=10_000,
        payouts=[("paid", 10_000, monday + 4 * H, None)],
    )
    denied = p.claim(
        who, monday + 24 * H, [Event("denied", monday + 30 * H, S.denied, "excluded_peril")], pro=pro, decided_by=who
    )
    third = p.claim(who, monday + 48 * H, pro=pro)
    return {"pro": pro, "customer": customer, "claims": sorted([paid, denied, third])}


async def test_the_digest_of_a_planted_week_is_built_kept_and_mailed_once(env, sessions, tmp_path):
    planted = plant_week(sessions, WEEK)
    lead, _ = add_user(sessions, f"Lead {uuid.uuid4().hex[:6]}", Role.lead)
    manager, _ = add_user(sessions, f"Manager {uuid.uuid4().hex[:6]}", Role.manager)
    specialist, _ = add_user(sessions, f"Spec {uuid.uuid4().hex[:6]}", Role.specialist)
    transport = Counting(tmp_path / "outbox")
    mailer = Mailer(transport, "claims@guarantee.test", "http://guarantee.test")
    policy, rules = load_policy(), load_signal_rules()
    activities = DigestActivities(
        sessions, mailer, lambda week: digests.compose(sessions, policy, rules, week), ["leads@example.com"]
    )
    queue = f"digest-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[DigestWorkflow],
        activities=[activities.build_digest, activities.mail_digest],
        activity_executor=ThreadPoolExecutor(2),
    ):
        for _ in range(2):  # a second run for the same week rebuilds the row and mails nothing again
            built = await env.client.execute_workflow(
                DigestWorkflow.run, WEEK, id=f"digest-test-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
            assert built == DigestBuilt(id=digest_id(WEEK), week_start=WEEK, new_signals=2)
    assert transport.sent == [f"<{digest_id(WEEK)}@guarantee.local>"]

    found = digests.get(sessions, digest_id(WEEK))
    assert (found.week_start, found.week_end, found.mail_state, found.mailed_to) == (
        WEEK,
        date(2061, 3, 13),
        "sent",
        ["leads@example.com"],
    )
    assert {lead.name, manager.name} <= set(found.recipients) and specialist.name not in found.recipients
    total = found.body.kpis.total
    # By hand: three opened in the week (the customer's two were the week before); one paid, one denied.
    assert (total.opened, total.resolved, total.paid, total.denied) == (3, 2, 1, 1)
    assert [(g.label, g.opened) for g in found.body.kpis.groups] == [("property_damage", 3)]
    assert total.denials_by_reason == {"excluded_peril": 1}
    # New: the pro's three claims, and property damage at 3 against a median of 0 before. Not new: the
    # repeat customer, who was one at the end of the week before too.
    new = {(s.rule, s.subject): s.claim_ids for s in found.body.new_signals}
    assert new == {
        ("pro_claims", planted["pro"]): planted["claims"],
        ("type_surge", "property_damage"): planted["claims"],
    }
    assert digests.compose(sessions, policy, rules, WEEK - timedelta(days=7)).new_signals[0].rule == "repeat_customer"

    mail = BytesParser(policy=policy_default()).parsebytes(
        (tmp_path / "outbox" / f"{digest_id(WEEK)}.eml").read_bytes()
    )
    assert mail["To"] == "leads@example.com" and mail["Subject"] == "Weekly digest: 2061-03-07 to 2061-03-13"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "opened 3, resolved 2, paid 1, denied 1" in text and planted["pro"] in text
    assert f"http://guarantee.test/digests/{digest_id(WEEK)}" in text


def policy_default():
    return policy.default


async def test_the_worker_runs_it_and_leads_read_it_through_the_api_and_the_command(stack, api, cli):
    week = date(2062, 3, 6)
    plant_week(stack.sessions, week)
    built = await stack.client.execute_workflow(
        DigestWorkflow.run, week, id=f"digest-test-{uuid.uuid4().hex[:8]}", task_queue=stack.queue
    )
    assert built.id == digest_id(week)
    _, lead = stack.user_with_token(Role.lead)
    listed = (await api.get("/digests", headers=auth(lead))).json()
    assert digest_id(week) in [d["id"] for d in listed] and all(d["body"] is None for d in listed)
    one = (await api.get(f"/digests/{digest_id(week)}", headers=auth(lead))).json()
    assert one["mail_state"] == "skipped" and "GUARANTEE_DIGEST_TO" in one["mail_error"]
    assert one["body"]["kpis"]["total"]["opened"] == 3
    assert_error(await api.get("/digests/digest-1999-01-04", headers=auth(lead)), 404, "not_found")
    _, specialist = stack.user_with_token(Role.specialist)
    assert_error(await api.get("/digests", headers=auth(specialist)), 403, "forbidden")
    out = (await cli.ok("digests", digest_id(week), token=lead)).out
    assert "Weekly digest digest-2062-03-06: 2062-03-06 to 2062-03-12" in out and "pro_claims" in out
    assert digest_id(week) in (await cli.ok("digests", token=lead)).out


def test_last_week_is_the_monday_of_the_week_before():
    assert last_week(date(2026, 11, 30)) == date(2026, 11, 23)  # a Monday: the whole week before
    assert last_week(date(2026, 11, 29)) == date(2026, 11, 16)  # a Sunday


async def test_the_schedule_is_created_once_for_monday_six():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(DEV_SERVER), data_converter=CONVERTER, search_attributes=sa.ALL
    )
    try:
        client = env.client
        assert await digests.ensure_schedule(client, "0 6 * * 1", task_queue="nowhere") is True
        assert await digests.ensure_schedule(client, "0 6 * * 1", task_queue="nowhere") is False
        described = await client.get_schedule_handle(DIGEST_SCHEDULE_ID).describe()
        runs = [t.astimezone(UTC) for t in described.info.next_action_times]
        assert runs and all((t.weekday(), t.hour, t.minute) == (0, 6, 0) for t in runs)
        action = described.schedule.action
        assert (action.workflow, action.task_queue, len(action.args)) == ("DigestWorkflow", "nowhere", 1)
    finally:
        await env.shutdown()
