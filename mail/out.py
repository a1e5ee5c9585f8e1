"""Delivering outgoing mail: through SMTP when GUARANTEE_SMTP_OUT names a server, else into a local outbox.

`GUARANTEE_SMTP_OUT` is `smtp://host:port` (plain), `smtp+starttls://user:pass@host:587` (STARTTLS,
then login) or `smtps://user:pass@host:465` (TLS from the start). Unset, each mail is written to
`GUARANTEE_HOME/outbox/<message id>.eml`, where the web app's /outbox page and `guarantee outbox`
read it. A file is named by its Message-ID, so sending the same notification again overwrites it.
"""

import smtplib
import ssl
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

SMTP_TIMEOUT = 20  # seconds; the send activity's own timeout is longer


class MailConfigError(ValueError):
    pass


@dataclass(frozen=True)
class SmtpOut:
    host: str
    port: int
    tls: str  # "none", "starttls" or "ssl"
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> "SmtpOut":
        parts = urlsplit(url.strip())
        tls, default_port = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("ssl", 465)}.get(
            parts.scheme, (None, 0)
        )
        if tls is None or not parts.hostname:
            raise MailConfigError(
                f"GUARANTEE_SMTP_OUT is smtp://host:port, smtp+starttls://user:pass@host:587 or smtps://..., "
                f"not {parts.scheme or url!r}://..."
            )
        try:
            port = parts.port or default_port
        except ValueError:
            raise MailConfigError("GUARANTEE_SMTP_OUT: the port is not a number") from None
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(parts.hostname, port, tls, user, password)

    def deliver(self, message: EmailMessage) -> None:
        if self.tls == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
        with smtp:
            if self.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)

    def describe(self) -> str:
        return f"SMTP {self.host}:{self.port}" + ("" if self.tls == "none" else f" ({self.tls})")


@dataclass(frozen=True)
class Outbox:
    folder: Path

    def deliver(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{mail_id(message['Message-ID'])}.eml"
        partial = path.with_suffix(".part")
        partial.write_bytes(message.as_bytes(policy=policy.SMTP))
        partial.replace(path)  # whole or not at all

    def describe(self) -> str:
        return f"outbox {self.folder}"


def mail_id(message_id: str) -> str:
    """The outbox's name of a mail: its Message-ID without the angle brackets and the domain."""
    return message_id.strip().strip("<>").split("@", 1)[0]


@dataclass(frozen=True)
class Mailer:
    """Where mail goes, whom it is from, and the address the links in it point to."""

    transport: SmtpOut | Outbox
    sender: str
    public_url: str

    def deliver(self, message: EmailMessage) -> None:
        self.transport.deliver(message)


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    path: Path

    def message(self) -> EmailMessage:
        with self.path.open("rb") as f:
            return BytesParser(policy=policy.default).parse(f)


def outbox_entries(folder: Path) -> list[OutboxEntry]:
    """The outbox's mails, newest first."""
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.eml"), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    return [OutboxEntry(p.stem, p) for p in files]


def outbox_entry(folder: Path, id: str) -> OutboxEntry | None:
    """One mail by its id; None for an id that names no mail (or tries to leave the folder)."""
    if not id or "/" in id or "\\" in id or id.startswith("."):
        return None
    path = folder / f"{id}.eml"
    return OutboxEntry(id, path) if path.is_file() else None


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""
