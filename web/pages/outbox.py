"""The outbox: the mail sent to customers and pros, newest first, and each mail as it went out."""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from mail.out import body_text
from service import outbox
from stack.config import load_settings
from web.door import session_of
from web.render import render

router = APIRouter()


@router.get("/outbox")
async def mails(request: Request):
    outbox.check_reader(session_of(request).actor)
    folder = load_settings().outbox_dir
    listed = await run_in_threadpool(outbox.recent, request.app.state.ctx.sessions, folder)
    return render(request, "outbox.html", nav="outbox", title="Outbox", listed=listed, mail=None)


@router.get("/outbox/{id}")
async def mail(request: Request, id: str):
    outbox.check_reader(session_of(request).actor)
    view = await run_in_threadpool(outbox.one, request.app.state.ctx.sessions, load_settings().outbox_dir, id)
    message = view.entry and view.entry.message()
    body = body_text(message) if message else None
    return render(request, "outbox.html", nav="outbox", title="Mail", listed=None, mail=view, body=body)
