"""Schemathesis over the API's own document (/openapi.json): whatever it sends, no answer is a 5xx.

The API is served over HTTP on a free port against the session's worker, database and Stripe stub
(like tests/test_cli.py), and `schemathesis run` goes over every operation with the tokens of two
roles, checking only `not_a_server_error`:

- a specialist, with the path ids pinned to real claims (one open, one in review for decisions),
  so generated bodies reach the workflow's rules instead of a 404;
- finance, with a real reconciliation and generated claim ids (404s, ids with odd characters).

The run here is bounded (a few examples per operation, a fixed seed) so it takes well under a
minute; the README's "Security checks" gives the longer command.
"""

import asyncio
import os
import re
import sys
from pathlib import Path

import httpx
import pytest

from schema.enums import Role
from schema.policy import load_policy
from stack.ports import bind
from tests.test_api import Desk, auth
from up import serve_site

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = 5
RUN_S = 150


@pytest.fixture
async def served_api(stack, tmp_path):
    sock = bind(0)
    server, serving = await serve_site(stack.context(load_policy("v1"), tmp_path / "evidence"), sock)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await serving
    sock.close()


def config(cwd: Path, ids: dict[str, str], per_path: dict[str, dict[str, str]]) -> Path:
    """A schemathesis.toml pinning path parameters: `ids` everywhere, `per_path` for one operation's path."""
    lines = ["[parameters]", *(f'"path.{name}" = "{value}"' for name, value in ids.items())]
    for path, values in per_path.items():
        pinned = ", ".join(f'"path.{name}" = "{value}"' for name, value in values.items())
        lines += ["", "[[operations]]", f'include-path = "{path}"', f"parameters = {{ {pinned} }}"]
    file = cwd / "schemathesis.toml"
    file.write_text("\n".join(lines) + "\n")
    return file


async def schemathesis(url: str, token: str, cwd: Path, config_file: Path) -> tuple[int, str]:
    """`schemathesis run` in a process of its own, so this event loop goes on serving the API."""
    args = [
        "--config-file", str(config_file),
        "run", f"{url}/openapi.json",
        "--checks", "not_a_server_error",
        "--header", f"Authorization: Bearer {token}",
        # Raw MIME with a shared secret, not a token: tests/test_mail_in.py posts real messages to it.
        "--exclude-path", "/inbound/email",
        "--max-examples", str(EXAMPLES),
        "--seed", "9",
        "--phases", "examples,coverage,fuzzing",
        # One worker: with several threads, CPython 3.11's ast.parse (which Hypothesis calls to describe
        # its filters) can fail with "AST constructor recursion depth mismatch" (gh-106905).
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--no-color",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), *args, cwd=cwd, env=os.environ | {"NO_COLOR": "1"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_S)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        pytest.fail(f"schemathesis did not finish in {RUN_S} s:\n{out.decode()[-4000:]}")
    return proc.returncode, out.decode()


@pytest.mark.timeout(RUN_S + 60)
@pytest.mark.parametrize("role", [Role.specialist, Role.finance])
async def test_no_request_gets_a_server_error(served_api, stack, tmp_path, role):
    _, token = stack.user_with_token(role)
    if role == Role.specialist:
        async with httpx.AsyncClient(base_url=served_api, timeout=30) as http:
            desk = Desk(http, stack)
            opened, review = await desk.open(), await desk.in_review()
        pinned = config(
            tmp_path, {"claim_id": opened["id"]}, {"/claims/{claim_id}/decision": {"claim_id": review["id"]}}
        )
    else:
        async with httpx.AsyncClient(base_url=served_api, timeout=30) as http:
            r = await http.post(
                "/reconciliations", json={"from": "2041-01-01", "to": "2041-01-01"}, headers=auth(token)
            )
            assert r.status_code == 202, r.text
        pinned = config(tmp_path, {"reconciliation_id": r.json()["id"]}, {})
    code, out = await schemathesis(served_api, token, tmp_path, pinned)
    assert code == 0, out[-6000:]
    counted = re.search(r"(\d+) generated, (\d+) passed", out)
    assert counted and counted[1] == counted[2] and int(counted[1]) > 100, out[-3000:]
