"""Configuration from environment variables, each with a working embedded default."""

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from stack.secrets import secret

# Any sk_test_ key pays through a Stripe stub's /v1 routes; real Stripe needs STRIPE_API_KEY. A stub's
# admin routes (/_stub/...) need the key it was started with: this one unless it was given another.
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
    # A secured Temporal (Temporal Cloud, a cluster with mTLS): client certificate and key files, the
    # server's CA and name when not publicly trusted, an API key. Unset: plain gRPC, as the dev server speaks.
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: str | None = None
    # Where a Temporal UI that is not the embedded one is served from, for the codec endpoint's CORS.
    temporal_ui_origins: tuple[str, ...] = ()
    # Email in: the SMTP receiver's port (taken or 0: a free one), and the secret of POST /inbound/email
    # (empty: that route is off).
    smtp_port: int = 2525
    inbound_secret: str = ""
    # Outgoing mail: an SMTP server (GUARANTEE_SMTP_OUT), else the outbox folder; whom it is from; and
    # the address the links in it point to (GUARANTEE_PUBLIC_URL, else the API on this machine).
    smtp_out: str | None = None
    mail_from: str = "Guarantee claims <claims@guarantee.local>"
    public_url: str | None = None
    # The weekly digest: when its Schedule runs (cron, UTC), and the addresses it is mailed to (users have none).
    digest_cron: str = "0 6 * * 1"
    digest_to: tuple[str, ...] = ()

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
    def outbox_dir(self) -> Path:
        """Where outgoing mail is kept when no SMTP server is configured."""
        return self.home / "outbox"

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
        smtp_port=int(os.environ.get("GUARANTEE_SMTP_PORT", "2525")),
        inbound_secret=os.environ.get("GUARANTEE_INBOUND_SECRET", "").strip(),
        temporal_tls_cert=_path("TEMPORAL_TLS_CERT"),
        temporal_tls_key=_path("TEMPORAL_TLS_KEY"),
        temporal_tls_ca=_path("TEMPORAL_TLS_CA"),
        temporal_tls_server_name=os.environ.get("TEMPORAL_TLS_SERVER_NAME") or None,
        temporal_api_key=os.environ.get("TEMPORAL_API_KEY") or None,
        temporal_ui_origins=tuple(
            o.strip().rstrip("/") for o in os.environ.get("GUARANTEE_TEMPORAL_UI_ORIGINS", "").split(",") if o.strip()
        ),
        smtp_out=os.environ.get("GUARANTEE_SMTP_OUT", "").strip() or None,
        mail_from=os.environ.get("GUARANTEE_MAIL_FROM", "").strip() or "Guarantee claims <claims@guarantee.local>",
        public_url=os.environ.get("GUARANTEE_PUBLIC_URL", "").strip().rstrip("/") or None,
        digest_cron=os.environ.get("GUARANTEE_DIGEST_CRON", "").strip() or "0 6 * * 1",
        digest_to=tuple(a.strip() for a in os.environ.get("GUARANTEE_DIGEST_TO", "").split(",") if a.strip()),
    )


def embedded_stub_key(settings: Settings) -> str:
    """The key of the Stripe stub `guarantee up` embeds, which its worker pays with and its admin
    routes need: STRIPE_API_KEY if set, else a random `sk_test_` key kept readable by its owner only
    in GUARANTEE_HOME/stripe-stub-key (made on first use), so `demo seed` finds the same one."""
    return secret(settings.home, "STRIPE_API_KEY", "stripe-stub-key", make=lambda: f"sk_test_{secrets.token_hex(24)}")


def _path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def signing_key(settings: Settings) -> bytes:
    """The key the service signs people's actions with and the worker checks them with."""
    return secret(settings.home, "GUARANTEE_SIGNING_KEY", "signing-key").encode()


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


def mailer(settings: Settings, api_url: str | None = None):
    """Where outgoing mail goes: SMTP at GUARANTEE_SMTP_OUT, else the outbox folder under GUARANTEE_HOME.

    Links in mail point to GUARANTEE_PUBLIC_URL, else `api_url` (where `guarantee up` serves), else
    the API's default port on this machine.
    """
    from mail.out import Mailer, Outbox, SmtpOut

    transport = SmtpOut.from_url(settings.smtp_out) if settings.smtp_out else Outbox(settings.outbox_dir)
    public = settings.public_url or api_url or f"http://127.0.0.1:{settings.api_port}"
    return Mailer(transport, settings.mail_from, public.rstrip("/"))
