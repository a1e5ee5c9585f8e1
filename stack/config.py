"""Configuration from environment variables, each with a working embedded default."""

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from stack.secrets import secret

# Any sk_test_ key opens the embedded stub; real Stripe needs STRIPE_API_KEY.
STUB_API_KEY = "sk_test_guarantee_stub"
# The key that seals the audit chain: GUARANTEE_AUDIT_KEY, else this file under GUARANTEE_HOME.
AUDIT_KEY_ENV, AUDIT_KEY_FILE = "GUARANTEE_AUDIT_KEY", "audit-key"
TOKEN_TTL_DAYS = 90


@dataclass(frozen=True)
class Settings:
    home: Path
    api_port: int
    temporal_address: str | None
    temporal_namespace: str
    database_url: str
    stripe_api_base: str | None
    stripe_api_key: str
    reconcile_cron: str

    @property
    def evidence_dir(self) -> Path:
        return self.home / "evidence"

    @property
    def temporal_db(self) -> Path:
        return self.home / "temporal.db"

    @property
    def stripe_stub_state(self) -> Path:
        return self.home / "stripe-stub.json"

    @property
    def api_url_file(self) -> Path:
        """Where `guarantee up` writes the API's address, so the command line finds it."""
        return self.home / "api-url"

    @property
    def stub_url_file(self) -> Path:
        """Where `guarantee up` writes the embedded Stripe stub's address (for `demo seed`); absent otherwise."""
        return self.home / "stripe-stub-url"


def load_settings() -> Settings:
    home = Path(os.environ.get("GUARANTEE_HOME", "./.guarantee")).resolve()
    return Settings(
        home=home,
        api_port=int(os.environ.get("GUARANTEE_API_PORT", "8000")),
        temporal_address=os.environ.get("TEMPORAL_ADDRESS") or None,
        temporal_namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"),
        database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{home / 'guarantee.db'}",
        stripe_api_base=os.environ.get("STRIPE_API_BASE") or None,
        stripe_api_key=os.environ.get("STRIPE_API_KEY") or STUB_API_KEY,
        reconcile_cron=os.environ.get("GUARANTEE_RECONCILE_CRON", "0 2 * * *"),
    )


def audit_key(settings: Settings) -> str:
    """The audit chain's HMAC key; every process that writes or verifies the chain must have the same one."""
    return secret(settings.home, AUDIT_KEY_ENV, AUDIT_KEY_FILE)


def token_ttl() -> timedelta:
    """How long a new or rotated API token lasts: GUARANTEE_TOKEN_TTL_DAYS, default 90 days."""
    text = os.environ.get("GUARANTEE_TOKEN_TTL_DAYS", "").strip()
    if not text:
        return timedelta(days=TOKEN_TTL_DAYS)
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= 3650:
        raise ValueError(f"GUARANTEE_TOKEN_TTL_DAYS is a whole number of days from 1 to 3650, not {text!r}")
    return timedelta(days=days)
