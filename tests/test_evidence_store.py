"""Evidence files live in the database, so every API process reads every file, whichever one took the upload."""

import hashlib
import os
import threading
import uuid

import httpx
import pytest

from api.app import create_app
from schema.enums import Role
from schema.policy import load_policy
from service import sign_in
from service.evidence import CHUNK_BYTES, EvidenceMissing
from tests.test_api import auth, claim_body
from web.app import create_web
from web.site import Site

V1 = load_policy("v1")
PASSWORD = "a long enough password"


def host(stack, staging):
    """One API process's app: the web app and the API on a context of its own, staging on its own disk."""
    ctx = stack.context(V1, staging)
    return ctx, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=Site(create_web(ctx), create_app(ctx))), base_url="http://site"
    )


async def test_a_file_uploaded_to_one_api_process_is_served_by_another(stack, tmp_path):
    _, token = stack.user_with_token(Role.specialist)
    name = f"lead-{uuid.uuid4().hex[:6]}"
    sign_in.add_user(stack.sessions, name, Role.lead, PASSWORD)
    session = sign_in.sign_in(stack.sessions, name, PASSWORD)
    video = os.urandom(2 * CHUNK_BYTES + 123)  # more than one chunk, none full at the end
    photo = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    _, one = host(stack, tmp_path / "one")
    other_ctx, other = host(stack, tmp_path / "other")
    async with one, other:
        r = await one.post("/claims", json=claim_body(payout=None), headers=auth(token))
        assert r.status_code == 201, r.text
        claim_id = r.json()["id"]
        for file in [("crack.png", photo, "image/png"), ("vidéo 1.mp4", video, "video/mp4")]:
            form = {"kind": "photo", "source": "customer"}
            r = await one.post(f"/claims/{claim_id}/evidence", files={"file": file}, data=form, headers=auth(token))
            assert r.status_code == 201, r.text
        shas = [e["file"]["sha256"] for e in r.json()["evidence"]]
        assert shas == [hashlib.sha256(photo).hexdigest(), hashlib.sha256(video).hexdigest()]

        other.cookies.set(sign_in.COOKIE, session.token)
        r = await other.get(f"/cases/{claim_id}/files/{shas[0]}")
        assert r.status_code == 200 and r.content == photo
        assert r.headers["content-type"] == "image/png"
        assert r.headers["content-disposition"] == 'inline; filename="crack.png"'
        assert r.headers["x-content-type-options"] == "nosniff"
        r = await other.get(f"/cases/{claim_id}/files/{shas[1]}")
        assert r.status_code == 200 and r.content == video
        assert r.headers["content-length"] == str(len(video))
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"] == "attachment; filename*=utf-8''vid%C3%A9o%201.mp4"
        assert (await other.get(f"/cases/{claim_id}/files/{'0' * 64}")).status_code == 404
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [], "no file kept on either process's disk"
    assert other_ctx.evidence.read(shas[1]) == video


def test_the_same_content_kept_by_several_processes_at_once_is_stored_once(stack, tmp_path):
    content = os.urandom(CHUNK_BYTES + 1)
    stores = [stack.context(V1, tmp_path / str(n)).evidence for n in range(4)]
    staged = [store.stage() for store in stores]
    for s in staged:
        s.write(content)
        s.finish()
    start, errors = threading.Barrier(len(staged)), []

    def keep(s):
        start.wait()
        try:
            s.keep()
        except Exception as err:  # noqa: BLE001 (reported below)
            errors.append(err)

    threads = [threading.Thread(target=keep, args=(s,)) for s in staged]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert stores[0].read(hashlib.sha256(content).hexdigest()) == content


def test_files_an_earlier_version_kept_on_disk_move_into_the_database(stack, tmp_path):
    legacy = tmp_path / "evidence"
    contents = [os.urandom(100), os.urandom(CHUNK_BYTES * 2)]
    for content in contents:
        sha = hashlib.sha256(content).hexdigest()
        (legacy / sha[:2]).mkdir(parents=True, exist_ok=True)
        (legacy / sha[:2] / sha).write_bytes(content)
    store = stack.context(V1, legacy / "incoming").evidence
    assert store.adopt(legacy) == 2
    assert [store.read(hashlib.sha256(c).hexdigest()) for c in contents] == contents
    assert [p for p in legacy.rglob("*") if p.is_file()] == []
    assert store.adopt(legacy) == 0


def test_a_file_the_store_lacks_is_refused_before_anything_is_read(stack, tmp_path):
    with pytest.raises(EvidenceMissing):
        stack.context(V1, tmp_path).evidence.chunks("0" * 64)
