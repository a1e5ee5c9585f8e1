"""A newcomer's first run, end to end, with the installed `guarantee` command and nothing configured.

In a fresh GUARANTEE_HOME: `guarantee up` starts (embedded Temporal dev server, SQLite, worker,
HTTP API); `users add` makes a specialist and a lead; the CLI takes one claim to paid and leaves a
second in specialist_review; `up` is stopped with SIGTERM and started again on the same
GUARANTEE_HOME, and the second claim goes on from where it was to paid. On the way: the paid
claim's history, read with the Temporal CLI, is ciphertext, and plain text through the API's
codec endpoint with a lead's token; every file under GUARANTEE_HOME is its owner's alone.
"""

import base64
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from stack.ports import bind, free_port
from stack.temporal import DEV_SERVER

pytestmark = [pytest.mark.newcomer, pytest.mark.timeout(180)]

GUARANTEE = Path(sys.executable).parent / "guarantee"
ROOT = Path(__file__).resolve().parent.parent
READY_S = 60.0  # a cold start on a slow CI machine; usually 2-3 s


class Newcomer:
    """Runs `guarantee` commands the way a person would, in a clean environment."""

    def __init__(self, tmp_path: Path):
        self.home = tmp_path / "home"
        self.cwd = tmp_path
        drop = ("GUARANTEE_", "TEMPORAL_", "DATABASE_URL", "STRIPE_")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        self.env |= {"GUARANTEE_HOME": str(self.home), "GUARANTEE_API_PORT": str(free_port())}
        # This checkout's code, even where `guarantee` was installed (editable) from another one.
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), self.env.get("PYTHONPATH")]))
        self.up_proc: subprocess.Popen | None = None
        self.starts = 0

    def run(self, *args: str, token: str | None = None) -> str:
        env = self.env | ({"GUARANTEE_TOKEN": token} if token else {})
        done = subprocess.run(
            [str(GUARANTEE), *args], env=env, cwd=self.cwd, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"guarantee {' '.join(args)}: {done.stderr}"
        return done.stdout

    def up(self) -> str:
        """Start `guarantee up` and wait (polling, with a deadline) until its API answers."""
        self.starts += 1
        self.log = self.cwd / f"up-{self.starts}.log"
        url_file = self.home / "api-url"
        url_file.unlink(missing_ok=True)
        # Temporal on free ports rather than 7233/8233: other suites may start a dev server right now.
        up = [str(GUARANTEE), "up", "--temporal-port", "0", "--temporal-ui-port", "0"]
        with open(self.log, "w") as log:
            self.up_proc = subprocess.Popen(
                up, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            assert self.up_proc.poll() is None, f"`guarantee up` exited early:\n{self.log.read_text()}"
            url = url_file.read_text().strip() if url_file.exists() else ""
            if url:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        return url
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        pytest.fail(f"`guarantee up` not ready in {READY_S:.0f} s:\n{self.log.read_text()}")

    def printed(self, name: str) -> str:
        """What `up` printed for `name` (e.g. "Temporal", "Temporal UI"), its first word."""
        return re.search(rf"^  {re.escape(name)} +(\S+)", self.log.read_text(), re.M).group(1)

    def history(self, claim_id: str, *codec: str) -> dict:
        """The claim's history as the Temporal CLI shows it (through a codec server if given), as JSON."""
        args = ["workflow", "show", "--workflow-id", f"claim-{claim_id}", "--address", self.printed("Temporal")]
        env = {k: v for k, v in self.env.items() if not k.startswith("TEMPORAL_")} | {"HOME": str(self.cwd)}
        done = subprocess.run(
            [str(DEV_SERVER), *args, "--output", "json", *codec], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def stop(self) -> None:
        self.up_proc.send_signal(signal.SIGTERM)
        code = self.up_proc.wait(timeout=60)
        assert code == 0, self.log.read_text()
        assert self.log.read_text().rstrip().endswith("Stopped.")

    def kill_leftovers(self) -> None:
        if self.up_proc and self.up_proc.poll() is None:
            os.killpg(self.up_proc.pid, signal.SIGKILL)
            self.up_proc.wait()

    def claim(self, claim_id: str, token: str) -> dict:
        return json.loads(self.run("claim", "show", claim_id, "--json", token=token))

    def wait_status(self, url: str, claim_id: str, token: str, status: str, within_s: float = 30.0) -> None:
        deadline = time.monotonic() + within_s
        headers = {"Authorization": f"Bearer {token}"}
        while (now := httpx.get(f"{url}/claims/{claim_id}", headers=headers).json()["status"]) != status:
            assert time.monotonic() < deadline, f"claim {claim_id} is {now}, not {status}"
            time.sleep(0.1)


@pytest.fixture
def newcomer(tmp_path):
    person = Newcomer(tmp_path)
    yield person
    person.kill_leftovers()


def payload_texts(history: dict) -> list[str]:
    """The data of every payload in the history, base64-decoded, with its encoding."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
                encoding = base64.b64decode(node["metadata"]["encoding"]).decode()
                found.append(f"{encoding} {base64.b64decode(node.get('data', '')).decode(errors='replace')}")
            else:
                for value in node.values():
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(history)
    return found


def assert_private(home: Path) -> None:
    """GUARANTEE_HOME 0700, and every file in it (databases, keys, state, addresses) 0600, folders 0700."""
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in [home, *home.rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, f"{path.relative_to(home)}: {oct(path.stat().st_mode)}"


def token_of(output: str) -> str:
    return re.search(r"^token \(shown once\): (\S+)$", output, re.M).group(1)


def open_claim(person: Newcomer, token: str, n: int, amount: str) -> str:
    out = person.run(
        "claim", "open", "--account", f"acct_newcomer{n}",
        "--customer", f"cus_{n}", "--pro", f"pro_{n}", "--project", f"prj_{n}",
        "--type", "property_damage", "--amount", amount, "--currency", "USD",
        "--incident-date", datetime.now(UTC).date().isoformat(), "--channel", "phone",
        "--description", "the pro cracked the kitchen countertop", token=token,
    )  # fmt: skip
    return re.match(r"claim (\w+): evidence_collection", out).group(1)


def test_newcomer_runs_up_works_a_claim_to_paid_and_a_restart_loses_nothing(newcomer):
    url = newcomer.up()
    specialist = token_of(newcomer.run("users", "add", "sam", "--role", "specialist"))
    lead = token_of(newcomer.run("users", "add", "lee", "--role", "lead"))

    first = open_claim(newcomer, specialist, 1, "1,250.00")
    newcomer.run(
        "claim", "evidence", first, "--kind", "photo", "--source", "customer", "--note", "crack", token=specialist
    )
    newcomer.run("claim", "complete-evidence", first, token=specialist)
    newcomer.run("claim", "decide", first, "--approve", "1,100.00", "--rationale", "the quote", token=specialist)
    approved = newcomer.run("claim", "approve", first, token=lead)
    assert re.match(rf"claim {first}: (approved|paying|paid), 1,100.00 USD decided", approved), approved
    newcomer.wait_status(url, first, lead, "paid")
    shown = newcomer.run("claim", "show", first, token=lead)
    assert shown.startswith(f"Claim {first}  PAID")
    assert re.search(r"payout to\s+transfer to acct_newcomer1, set by u_\w+\n", shown)
    assert re.search(r"Payouts \(1\)\n.*\n\s+1\s+1,100.00 USD\s+transfer\s+paid\s+stripe\s+tr_", shown)
    assert re.search(r"paid\s+paying -> paid", shown.split("Timeline")[1])
    # The worker runs in a process of its own; the API's /metrics still shows the activities it timed.
    metrics = httpx.get(f"{url}/metrics").text
    assert re.search(
        r'^guarantee_activity_duration_seconds_count\{activity="pay_claim",outcome="ok"\} 1\.0$', metrics, re.M
    )
    assert re.search(r'^guarantee_actions_total\{action="review",outcome="ok"\} 1\.0$', metrics, re.M)

    # The paid claim's history: ciphertext to anyone who reads Temporal, plain text to a lead through the API.
    raw = payload_texts(newcomer.history(first))
    assert raw and not any(secret in text for text in raw for secret in ("cus_1", "countertop", "crack", "acct_"))
    assert sum(text.startswith("binary/encrypted ") for text in raw) > 10
    ui_settings = httpx.get(f"{newcomer.printed('Temporal UI')}/api/v1/settings").json()
    assert ui_settings["Codec"]["Endpoint"] == f"{url}/codec", "the Temporal UI decodes through the API"
    decoded = payload_texts(
        newcomer.history(first, "--codec-endpoint", f"{url}/codec", "--codec-auth", f"Bearer {lead}")
    )
    assert any("cus_1" in text and "the pro cracked the kitchen countertop" in text for text in decoded)
    assert any('"note":"crack"' in text for text in decoded)
    assert not any(text.startswith("binary/encrypted ") for text in decoded)
    assert_private(newcomer.home)
    for name in ("guarantee.db", "temporal.db", "codec-keys"):
        assert stat.S_IMODE((newcomer.home / name).stat().st_mode) == 0o600, name

    second = open_claim(newcomer, specialist, 2, "800.00")
    newcomer.run("claim", "evidence", second, "--kind", "invoice", "--source", "customer", "--note", "repair quote",
                 token=specialist)  # fmt: skip
    newcomer.run("claim", "complete-evidence", second, token=specialist)
    assert newcomer.claim(second, specialist)["status"] == "specialist_review"

    assert (newcomer.home / "stripe-stub-url").exists()  # the embedded stub, for `demo seed`
    newcomer.stop()
    assert (newcomer.home / "temporal.db").exists() and (newcomer.home / "guarantee.db").exists()
    assert (newcomer.home / "stripe-stub.json").exists() and not (newcomer.home / "stripe-stub-url").exists()
    newcomer.home.chmod(0o755)  # opened up by hand, or made by an older version: `up` closes it again
    (newcomer.home / "guarantee.db").chmod(0o644)
    url = newcomer.up()
    assert_private(newcomer.home)

    assert newcomer.claim(second, specialist)["status"] == "specialist_review"
    decided = newcomer.run("claim", "decide", second, "--approve", "800.00", "--rationale", "ok", token=specialist)
    assert decided.startswith(f"claim {second}: pending_approval, 800.00 USD decided")
    newcomer.run("claim", "approve", second, "--note", "after the restart", token=lead)
    newcomer.wait_status(url, second, lead, "paid")
    after = newcomer.claim(second, lead)
    assert [(p["method"], p["status"]) for p in after["payouts"]] == [("transfer", "paid")]
    actions = [t["action"] for t in after["timeline"] if t["action"] != "notified"]
    assert actions == [
        "opened", "payout_details_added", "evidence_added", "evidence_completed", "decided", "approved",
        "payout_started", "paid",
    ]  # fmt: skip
    listed = newcomer.run("claim", "list", "--status", "paid", token=lead)
    assert first in listed and second in listed and listed.rstrip().endswith("1-2 of 2")
    newcomer.stop()


def test_up_takes_its_default_ports_or_free_ones_when_they_are_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert free_port(busy) != busy
        with bind(busy) as sock:
            assert sock.getsockname()[1] not in (busy, 0)
    idle = free_port()
    assert free_port(idle) == idle
    with bind(idle) as sock:
        assert sock.getsockname()[1] == idle
