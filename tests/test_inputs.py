"""Bad input costs nothing (issue 9): the token before the body, capped bodies, streamed uploads.

Anonymous requests are answered 401 before a byte of their body is read (checked at the ASGI
level: the app's `receive` is never called), and an API served in a process of its own refuses an
anonymous 100 MB upload while its memory grows by less than 20 MB. JSON bodies stop at 1 MiB,
evidence files at 25 MB, both with 413; an upload reaches the evidence store only once the claim
accepted it, and every refusal leaves the claim and the store exactly as they were.
"""

import asyncio
import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
import pytest
from sqlalchemy import select

from api.app import create_app
from schema import tables
from schema.enums import Role
from schema.policy import load_policy
from service.evidence import MAX_BYTES
from tests.conftest import SIGNING_KEY
from tests.test_api import Desk, assert_error, auth, claim_body

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


def staging(desk: Desk) -> Path:
    return desk.client._transport.app.state.ctx.evidence.staging


def staged_files(root: Path) -> list[Path]:
    """Every upload staged under `root` and not yet kept or discarded."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def stored(desk: Desk) -> set[str]:
    """The SHA-256 of every file in the evidence store."""
    with desk.stack.sessions() as db:
        return set(db.scalars(select(tables.EvidenceFile.sha256)))


def multipart(boundary: str, fields: dict, file: tuple[str, str] | None, content_size: int, piece: int = 64 * 1024):
    """A multipart body as a generator: the fields, then a file of `content_size` bytes sent in pieces."""
    for name, value in fields.items():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    if file is not None:
        filename, content_type = file
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        block = b"x" * piece
        sent = 0
        while sent < content_size:
            n = min(piece, content_size - sent)
            yield block[:n]
            sent += n
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


async def streamed(chunks):
    """A body for httpx's AsyncClient without a Content-Length: sent chunked, piece by piece."""
    for chunk in chunks:
        yield chunk


# The token before the body, at the ASGI level.


async def call_asgi(app, method: str, path: str, headers: dict, body: bytes = b"x" * 1000) -> tuple[int, dict, int]:
    """One request straight into the ASGI app; returns the status, the JSON answer and how often it read the body."""
    reads = 0

    async def receive():
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": body, "more_body": False}

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    path_only, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 1),
        "server": ("api", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    import json

    return start["status"], json.loads(payload), reads


ANONYMOUS_REQUESTS = [
    ("POST", "/claims", {"Content-Type": "application/json"}),
    ("POST", "/claims/abc/evidence", {"Content-Type": "multipart/form-data; boundary=X"}),
    ("POST", "/claims/abc/evidence", {"Content-Type": "application/json"}),
    ("PUT", "/claims/abc/payout-details", {"Content-Type": "application/json"}),
    ("POST", "/reconciliations", {"Content-Type": "application/json"}),
    ("GET", "/claims?status=paid", {}),
    ("POST", "/nowhere", {"Content-Type": "application/json"}),
    ("POST", "/codec/decode", {"Content-Type": "application/json"}),  # a route someone adds later
    ("POST", "/healthzz", {}),
    ("POST", "/docsx", {}),
]


@pytest.mark.parametrize("method, path, headers", ANONYMOUS_REQUESTS, ids=lambda v: str(v)[:40])
async def test_no_token_is_401_before_the_body_is_read(stack, tmp_path, method, path, headers):
    app = create_app(stack.context(load_policy("v1"), tmp_path / "evidence"))
    for credentials in ({}, auth("gp_wrong"), auth(""), {"Authorization": "Basic dXNlcjpwdw=="}):
        status, answer, reads = await call_asgi(app, method, path, headers | credentials)
        assert (status, answer["error"]["code"], reads) == (401, "unauthenticated", 0), (credentials, answer)
    assert staged_files(tmp_path / "evidence") == []


async def test_public_routes_need_no_token_and_the_gate_keeps_the_actor(stack, tmp_path):
    app = create_app(stack.context(load_policy("v1"), tmp_path / "evidence"))
    for path in ("/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            assert (await client.get(path)).status_code == 200, path
    actor, token = stack.user_with_token(Role.specialist)
    status, me, _ = await call_asgi(app, "GET", "/users/me", auth(token))
    assert (status, me["user_id"]) == (200, actor.user_id)


# Body caps.


async def test_json_bodies_stop_at_one_mib(desk):
    big = b'{"description": "' + b"d" * MiB + b'"}'
    json_h = desk.specialist_h | {"Content-Type": "application/json"}
    before = (await desk.page(assignee=desk.specialist.user_id))["total"]
    message = assert_error(await desk.client.post("/claims", content=big, headers=json_h), 413, "too_large")
    assert "1 MiB" in message

    # Without a Content-Length (chunked), refused as soon as the bytes read pass the cap.
    def chunked():
        yield b'{"description": "'
        for _ in range(40):
            yield b"d" * 64 * 1024
        yield b'"}'

    assert_error(await desk.client.post("/claims", content=streamed(chunked()), headers=json_h), 413, "too_large")
    claim = await desk.open()
    for path in ("/decision", "/withdraw", "/evidence"):
        await desk.refused(claim["id"], path, 413, "too_large", headers=json_h, content=big)
    r = await desk.client.put(f"/claims/{claim['id']}/payout-details", content=big, headers=json_h)
    assert_error(r, 413, "too_large")
    assert (await desk.get(claim["id"])) == claim
    assert (await desk.page(assignee=desk.specialist.user_id))["total"] == before + 1

    # Just under the cap: read, and refused for what it says, not for its size.
    fits = b'{"description": "' + b"d" * (MiB - 100) + b'"}'
    assert_error(await desk.client.post("/claims", content=fits, headers=json_h), 422, "invalid_request")


async def test_an_evidence_file_past_25_mb_is_refused_and_nothing_is_kept(desk):
    claim = await desk.open()
    store, before = staging(desk), stored(desk)
    boundary = "b0undary"
    headers = desk.specialist_h | {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    fields = {"kind": "photo", "source": "customer"}
    body = streamed(multipart(boundary, fields, ("big.jpg", "image/jpeg"), MAX_BYTES + 1))
    message = await desk.refused(claim["id"], "/evidence", 413, "too_large", headers=headers, content=body)
    assert "25 MB" in message
    # Declared too large: refused from its Content-Length alone.
    huge = b"".join(multipart(boundary, fields, ("big.jpg", "image/jpeg"), MAX_BYTES + MiB))
    await desk.refused(claim["id"], "/evidence", 413, "too_large", headers=headers, content=huge)
    assert (staged_files(store), stored(desk)) == ([], before)

    # Exactly 25 MB is accepted, hashed as it streamed, and stored under its hash.
    exact = b"".join(multipart(boundary, fields, ("exact.jpg", "image/jpeg"), MAX_BYTES))
    r = await desk.client.post(f"/claims/{claim['id']}/evidence", content=exact, headers=headers)
    assert r.status_code == 201, r.text
    [evidence] = r.json()["evidence"]
    digest = hashlib.sha256(b"x" * MAX_BYTES).hexdigest()
    assert (evidence["file"]["size_bytes"], evidence["file"]["sha256"]) == (MAX_BYTES, digest)
    assert (staged_files(store), stored(desk)) == ([], before | {digest})
    assert desk.client._transport.app.state.ctx.evidence.read(digest) == b"x" * MAX_BYTES


async def test_an_upload_joins_the_store_only_once_the_claim_accepted_it(desk, stack):
    store, before, evidence = staging(desk), stored(desk), desk.client._transport.app.state.ctx.evidence
    photo = ("a.jpg", f"a photo of the crack {uuid.uuid4()}".encode(), "image/jpeg")
    digest = hashlib.sha256(photo[1]).hexdigest()
    form = {"kind": "photo", "source": "customer"}

    # An unknown claim: 404, and no file anywhere.
    r = await desk.client.post(
        "/claims/c0ffee000000/evidence", files={"file": photo}, data=form, headers=desk.specialist_h
    )
    assert_error(r, 404, "not_found")
    assert (staged_files(store), stored(desk)) == ([], before)

    # Refused by the claim (a final claim: 409) or by the form (422): nothing kept either.
    claim = await desk.open()
    withdrawn = await desk.open()
    r = await desk.client.post(
        f"/claims/{withdrawn['id']}/withdraw", json={"reason": "settled"}, headers=desk.specialist_h
    )
    assert r.status_code == 200, r.text
    await desk.refused(withdrawn["id"], "/evidence", 409, "invalid_state", files={"file": photo}, data=form)
    await desk.refused(claim["id"], "/evidence", 422, "invalid_request", files={"file": photo}, data={"kind": "x"})
    await desk.refused(
        claim["id"], "/evidence", 422, "invalid_request", files={"file": ("a\u202egpj.exe", b"x", "image/jpeg")},
        data=form,
    )  # fmt: skip
    await desk.refused(
        claim["id"], "/evidence", 403, "forbidden", headers=desk.person(Role.finance)[1], files={"file": photo},
        data=form,
    )  # fmt: skip
    assert (staged_files(store), stored(desk)) == ([], before)

    # Accepted: in the store under its hash, and nothing left staged.
    r = await desk.client.post(
        f"/claims/{claim['id']}/evidence", files={"file": photo}, data=form, headers=desk.specialist_h
    )
    assert r.status_code == 201, r.text
    assert (staged_files(store), stored(desk)) == ([], before | {digest})
    assert evidence.read(digest) == photo[1]
    # The same content again, for another claim: stored once; a refusal of it keeps the stored copy.
    other = await desk.open()
    r = await desk.client.post(
        f"/claims/{other['id']}/evidence", files={"file": photo}, data=form, headers=desk.specialist_h
    )
    assert r.status_code == 201, r.text
    await desk.refused(withdrawn["id"], "/evidence", 409, "invalid_state", files={"file": photo}, data=form)
    assert (staged_files(store), stored(desk)) == ([], before | {digest})


async def test_broken_multipart_bodies_are_refused_and_leave_nothing(desk):
    claim = await desk.open()
    store, before = staging(desk), stored(desk)
    head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    for content_type, content in [
        ("multipart/form-data; boundary=B", head + b"no end"),  # the body stops before its closing boundary
        ("multipart/form-data; boundary=B", b"garbage"),
        ("multipart/form-data", b"--B--\r\n"),  # no boundary
        ("multipart/form-data; boundary=B", head + b"x\r\n" + head + b"y\r\n--B--\r\n"),  # two files
    ]:
        headers = desk.specialist_h | {"Content-Type": content_type}
        unchanged = await desk.get(claim["id"])
        r = await desk.client.post(f"/claims/{claim['id']}/evidence", content=content, headers=headers)
        assert r.status_code in (400, 422), r.text
        assert_error(r, r.status_code, "invalid_request")
        assert await desk.get(claim["id"]) == unchanged
    assert (staged_files(store), stored(desk)) == ([], before)


# Ids and addresses with invisible characters.


async def test_ids_in_paths_and_filters_refuse_format_characters(desk):
    claim = await desk.open()
    finance_h = desk.person(Role.finance)[1]
    for bad in map(quote, ("\u202e", "\u200b", "\ufeff", "\u2066", "\x1b")):
        for method, url, headers in [
            ("GET", f"/claims/{claim['id']}{bad}", desk.specialist_h),
            ("POST", f"/claims/{claim['id']}{bad}/withdraw", desk.specialist_h),
            ("GET", f"/reconciliations/reconciliation-{bad}", finance_h),
            ("GET", f"/claims?assignee={desk.specialist.user_id}{bad}", desk.specialist_h),
        ]:
            r = await desk.client.request(method, url, headers=headers, json={"reason": "x"})
            assert "control and format characters" in assert_error(r, 422, "invalid_request"), url
    assert await desk.get(claim["id"]) == claim
    # In what people write (a description), such characters are text: Arabic and Hebrew need them.
    rtl = await desk.open(description="\u05e9\u05dc\u05d5\u05dd \u200f(RTL)")
    assert rtl["description"].endswith("\u200f(RTL)")
    r = await desk.client.post("/claims", json=claim_body(customer_id="cus_\u202e1"), headers=desk.specialist_h)
    assert "customer_id" in assert_error(r, 422, "invalid_request")


# Memory: an anonymous 100 MB upload against an API in a process of its own.

SERVE = """
import asyncio, sys
from pathlib import Path
from urllib.parse import quote
from temporalio.client import Client
from schema.database import make_engine, make_sessions
from schema.policy import load_policy
from service.context import Context
from service.evidence import EvidenceStore
from stack.ports import bind
from tests.codec_key import CONVERTER
from up import serve_site

async def main(target, db_url, evidence, queue, signing_key):
    client = await Client.connect(target, data_converter=CONVERTER)
    sessions = make_sessions(make_engine(db_url))
    key = bytes.fromhex(signing_key)
    ctx = Context(client, sessions, load_policy("v1"), EvidenceStore(sessions, Path(evidence)), key, task_queue=queue)
    sock = bind(0)
    server, serving = await serve_site(ctx, sock)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    await serving

asyncio.run(main(*sys.argv[1:]))
"""


class Served:
    """The API in a process of its own, and its memory."""

    def __init__(self, proc: subprocess.Popen, url: str):
        self.proc, self.url = proc, url
        self.process = psutil.Process(proc.pid)

    def rss(self) -> int:
        return self.process.memory_info().rss

    def peak_during(self, action):
        """Run `action()` while sampling the server's RSS every few ms; returns (its result, the peak RSS)."""
        peak = self.rss()
        done = threading.Event()

        def sample():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, self.rss())
                time.sleep(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = action()
        finally:
            done.set()
            sampler.join()
        peak = max(peak, self.rss(), self.high_water_mark())
        return result, peak

    def reset_high_water_mark(self) -> bool:
        """Linux resets a process's peak RSS (VmHWM) on `echo 5 > /proc/PID/clear_refs`."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def high_water_mark(self) -> int:
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0


@pytest.fixture
def served(stack, db_url, tmp_path):
    target = stack.client.service_client.config.target_host
    evidence = tmp_path / "served-evidence"
    temp = tmp_path / "served-tmp"  # the process's TMPDIR: where a spooled upload would land
    temp.mkdir()
    env = os.environ | {"PYTHONPATH": str(ROOT), "TMPDIR": str(temp)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, target, db_url, str(evidence), stack.queue, SIGNING_KEY.hex()],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), proc.stderr.read() if proc.poll() is not None else url
        yield Served(proc, url), evidence, temp
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.timeout(120)
async def test_an_anonymous_100_mb_upload_costs_the_server_no_memory(served, stack, capsys):
    server, evidence, temp = served
    _, token = stack.user_with_token(Role.specialist)
    boundary = "memory-test"
    upload_h = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    fields = {"kind": "photo", "source": "customer"}

    def uploads() -> tuple[int, int, int]:
        """Blocking HTTP, in a thread: the worker serving the claim runs in this test's event loop."""
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for _ in range(3):  # warm up: imports, the first authenticated request, the database pool
                assert http.get("/healthz").status_code == 200
                assert http.get("/claims", headers=auth(token)).status_code == 200
            # No payout details: nothing is signed, so the test server's skipped clock does not matter here.
            opened = http.post("/claims", json=claim_body(payout=None), headers=auth(token))
            assert opened.status_code == 201, opened.text
            claim = opened.json()
            warm = server.rss()
            server.reset_high_water_mark()

            url = f"/claims/{claim['id']}/evidence"

            def body():
                return multipart(boundary, fields, ("big.bin", "x/y"), 100 * MiB)

            def anonymous():
                return http.post(url, content=body(), headers=upload_h)

            r, peak = server.peak_during(anonymous)
            assert_error(r, 401, "unauthenticated")
            anonymous_growth = peak - warm

            # An anonymous 20 MB JSON body (once 300 MiB of parsing): 401 before it is read.
            server.reset_high_water_mark()
            big_json = b'{"description": "' + b"d" * 20 * MiB + b'"}'
            json_h = {"Content-Type": "application/json"}
            r, peak = server.peak_during(lambda: http.post("/claims", content=big_json, headers=json_h))
            assert_error(r, 401, "unauthenticated")
            anonymous_growth = max(anonymous_growth, peak - warm)

            # The same 100 MB from a specialist: read as far as 25 MB, then 413; nothing kept.
            def too_large():
                return http.post(url, content=body(), headers=upload_h | auth(token))

            server.reset_high_water_mark()
            r, peak = server.peak_during(too_large)
            assert_error(r, 413, "too_large")
            authenticated_growth = peak - warm
            assert http.get(f"/claims/{claim['id']}", headers=auth(token)).json()["evidence"] == []

        return warm, anonymous_growth, authenticated_growth

    warm, anonymous_growth, authenticated_growth = await asyncio.to_thread(uploads)

    with capsys.disabled():
        print(
            f"\n  API process RSS {warm / MiB:.1f} MiB after warm-up; peak growth during a 100 MB upload: "
            f"anonymous (401) {anonymous_growth / MiB:.1f} MiB, specialist (413 at 25 MB) "
            f"{authenticated_growth / MiB:.1f} MiB"
        )
    assert anonymous_growth < 20 * MiB
    assert authenticated_growth < 20 * MiB
    assert staged_files(evidence) == [], "no temporary file left behind"
    assert staged_files(temp) == [], "nothing spooled to the temporary folder"
