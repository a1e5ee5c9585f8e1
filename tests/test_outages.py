"""While Temporal or the database is down, the API answers 503 in the contract's error shape, never a bare 500."""

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from schema.database import make_engine, make_sessions
from schema.enums import Role
from schema.policy import load_policy
from stack.ports import free_port
from stack.temporal import DEV_SERVER
from tests.codec_key import CONVERTER
from tests.test_api import assert_error, auth, claim_body


def api_on(stack, tmp_path, client=None, sessions=None) -> httpx.AsyncClient:
    ctx = stack.context(load_policy("v1"), tmp_path / "evidence")
    ctx.client = client or ctx.client
    ctx.sessions = sessions or ctx.sessions
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)), base_url="http://api")


@pytest.fixture
async def temporal_gone():
    """A client of a Temporal dev server that has since stopped (retrying briefly, as a caller would)."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(DEV_SERVER), data_converter=CONVERTER)
    client = await Client.connect(
        env.client.service_client.config.target_host,
        data_converter=CONVERTER,
        retry_config=RetryConfig(max_retries=1),
    )
    await env.shutdown()
    return client


async def test_temporal_down_is_a_503(stack, tmp_path, temporal_gone):
    _, token = stack.user_with_token(Role.specialist)
    async with api_on(stack, tmp_path) as up:
        claim = (await up.post("/claims", json=claim_body(), headers=auth(token))).json()
    async with api_on(stack, tmp_path, client=temporal_gone) as api:
        message = assert_error(await api.post("/claims", json=claim_body(), headers=auth(token)), 503, "unavailable")
        assert "Temporal" in message
        r = await api.post(f"/claims/{claim['id']}/evidence/complete", headers=auth(token))
        assert_error(r, 503, "unavailable")
        r = await api.get(f"/claims/{claim['id']}", headers=auth(token))
        assert r.status_code == 200 and r.json()["status"] == "evidence_collection", "reads need only the database"


def unreachable_database(db_url: str, tmp_path) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'no-such-folder' / 'guarantee.db'}"
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"


async def test_the_database_down_is_a_503(stack, db_url, tmp_path):
    _, token = stack.user_with_token(Role.lead)
    engine = make_engine(unreachable_database(db_url, tmp_path))
    try:
        async with api_on(stack, tmp_path, sessions=make_sessions(engine)) as api:
            for method, path in [("GET", "/claims"), ("GET", "/claims/abc"), ("GET", "/payouts"), ("POST", "/claims")]:
                body = claim_body() if method == "POST" else None
                r = await api.request(method, path, json=body, headers=auth(token))
                assert "database" in assert_error(r, 503, "unavailable"), path
    finally:
        engine.dispose()
