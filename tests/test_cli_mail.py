"""The mail commands against the real API: the intake inbox, asking the pro, and the outbox it fills."""

import asyncio
import time
import uuid
from email.message import EmailMessage

import pytest

from schema.enums import Role
from schema.policy import load_policy
from service import inbox
from stack.ports import bind
from tests.test_cli import Cli, open_args
from up import serve_site


@pytest.fixture
async def mail_cli(stack, db_url, tmp_path, monkeypatch, capsys):
    """The API under the policy with the pro's statement (v3); GUARANTEE_HOME's outbox is the worker's."""
    ctx = stack.context(load_policy("v3"), tmp_path / "evidence")
    sock = bind(0)
    server, serving = await serve_site(ctx, sock)
    home = tmp_path / "home"
    home.mkdir()
    (home / "outbox").symlink_to(stack.outbox)
    monkeypatch.setenv("GUARANTEE_API_URL", f"http://127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setenv("GUARANTEE_HOME", str(home))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("GUARANTEE_TOKEN", raising=False)
    yield Cli(capsys, ""), ctx
    server.should_exit = True
    await serving
    sock.close()


def message(sender: str, subject: str, text: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "claims@guarantee.test", subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@mail.example>"
    msg.set_content(text)
    return bytes(msg)


async def test_a_specialist_works_the_inbox_from_the_command_line(mail_cli, stack):
    cli, ctx = mail_cli
    _, specialist = stack.user_with_token(Role.specialist)
    tag = uuid.uuid4().hex[:8]
    claimed = await inbox.receive(ctx, message(f"ana.{tag}@example.com", "my kitchen", "the countertop cracked"))
    spam = await inbox.receive(ctx, message(f"sales.{tag}@example.com", "offer", "buy now"))

    listed = (await cli.ok("inbox", token=specialist)).out
    assert f"ana.{tag}@example.com" in listed and "my kitchen" in listed
    shown = (await cli.ok("inbox", "show", str(claimed.id), token=specialist)).out
    assert "subject: my kitchen" in shown and "the countertop cracked" in shown

    args = open_args()[2:]  # the flags of `claim open`, without the command
    opened = await cli.ok("inbox", "open", str(claimed.id), *args, "--json", token=specialist)
    claim_id = opened.json["id"]
    detail = (await cli.ok("claim", "show", claim_id, "--json", token=specialist)).json
    assert [(c["party"], c["email"]) for c in detail["contacts"]] == [("customer", f"ana.{tag}@example.com")]

    await cli.ok("inbox", "dismiss", str(spam.id), "--reason", "advertising", token=specialist)
    again = await cli("inbox", "open", str(claimed.id), *args, token=specialist)
    assert again.code == 1 and again.err.startswith("error: ")
    remaining = (await cli.ok("inbox", "--json", token=specialist)).json
    assert {m["id"] for m in remaining["items"]}.isdisjoint({claimed.id, spam.id})


async def test_asking_the_pro_mails_them_a_link_that_the_outbox_shows(mail_cli, stack):
    cli, _ = mail_cli
    _, specialist = stack.user_with_token(Role.specialist)
    pro = f"pro.{uuid.uuid4().hex[:8]}@fixers.example"
    claim_id = (await cli.ok(*open_args(), "--pro-email", pro, "--json", token=specialist)).json["id"]
    await cli.ok("claim", "ask-pro", claim_id, token=specialist)
    twice = await cli("claim", "ask-pro", claim_id, token=specialist)
    assert twice.code == 1 and twice.err.startswith("error: ")

    deadline = time.monotonic() + 30
    while True:  # the request goes out from the claim's workflow, in the background
        mails = (await cli.ok("outbox", "--json")).json
        mine = [m for m in mails if m["to"] == pro]
        if mine or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    [mail] = mine
    assert f"[claim {claim_id}]" in mail["subject"]
    body = (await cli.ok("outbox", "show", mail["id"])).out
    assert "/e/" in body, "the mail carries the pro's evidence link"
