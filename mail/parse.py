"""Raw RFC 5322 messages into `ParsedMail`: one parser, Python's `email` package with `policy.default`.

Pure: bytes in, a model out; nothing is stored or sent here.

How a message names its claim (the two forms of `mail.names`, which outgoing mail writes):

- the subject carries `[claim <id>]`, kept by most replies, and
- every message we send has the Message-ID `<claim-<id>.<key>@guarantee.local>`, so a reply's
  In-Reply-To / References point back at it even when the subject was rewritten.

The subject wins when both are present; then In-Reply-To, then References, newest first.
"""

import re
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from pydantic import BaseModel, Field

from mail.names import MESSAGE_ID_DOMAIN

CLAIM_ID = r"[A-Za-z0-9_-]{1,64}"
SUBJECT_REFERENCE = re.compile(rf"\[claim\s+({CLAIM_ID})\]", re.IGNORECASE)
MESSAGE_ID_REFERENCE = re.compile(rf"<claim-({CLAIM_ID})\.[^@<>\s]+@{re.escape(MESSAGE_ID_DOMAIN)}>", re.IGNORECASE)


class Attachment(BaseModel):
    filename: str
    content_type: str
    content: bytes = Field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)


class ParsedMail(BaseModel):
    message_id: str  # as sent; a message without one is named by the SHA-256 of its bytes
    sender: str  # the From address, lower case ("" if it had none)
    sender_name: str = ""
    to: list[str] = []
    subject: str = ""
    date: datetime | None = None
    in_reply_to: str | None = None
    references: list[str] = []
    text: str = ""
    attachments: list[Attachment] = []

    @property
    def claim_id(self) -> str | None:
        """The claim this message names (see the module's docstring), else None."""
        found = SUBJECT_REFERENCE.search(self.subject)
        if found:
            return found.group(1)
        for ref in [self.in_reply_to or "", *reversed(self.references)]:
            found = MESSAGE_ID_REFERENCE.search(ref)
            if found:
                return found.group(1)
        return None


def parse(raw: bytes, fallback_id: str) -> ParsedMail:
    """The message in `raw`; `fallback_id` names it when it has no Message-ID (e.g. `sha256:<hex>`)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    sender_name, sender = _first_address(msg, "from")
    return ParsedMail(
        message_id=_clean(_header(msg, "message-id")).strip()[:250] or fallback_id,
        sender=sender,
        sender_name=sender_name,
        to=[a for _, a in _addresses(msg, "to")],
        subject=_clean(_header(msg, "subject"))[:500],
        date=_date(msg),
        in_reply_to=_clean(_header(msg, "in-reply-to")).strip() or None,
        references=_clean(_header(msg, "references")).split(),
        text=_clean(_text(msg)).strip(),
        attachments=list(_attachments(msg)),
    )


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except (ValueError, TypeError, IndexError):  # a header the policy cannot parse
        return ""
    return str(value) if value is not None else ""


def _addresses(msg: EmailMessage, name: str) -> list[tuple[str, str]]:
    try:
        values = msg.get_all(name) or []
    except (ValueError, TypeError, IndexError):
        return []
    found = getaddresses([str(v) for v in values])
    return [(_clean(n), a.strip().lower()) for n, a in found if "@" in a]


def _first_address(msg: EmailMessage, name: str) -> tuple[str, str]:
    found = _addresses(msg, name)
    return found[0] if found else ("", "")


def _date(msg: EmailMessage) -> datetime | None:
    try:
        when = parsedate_to_datetime(_header(msg, "date"))
    except (TypeError, ValueError, IndexError):
        return None
    return when if when and when.tzinfo else None


def _clean(text: str) -> str:
    """No NUL (PostgreSQL refuses it) and no other C0 controls but tab and line ends."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)


def _content(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset or a broken transfer encoding
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    return content if isinstance(content, str) else ""


def _text(msg: EmailMessage) -> str:
    """The plain text body if there is one, else the HTML body's text."""
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    text = _content(body)
    return _html_text(text) if body.get_content_subtype() == "html" else text


class _Text(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "pre"}
    SKIP = {"script", "style", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _attachments(msg: EmailMessage):
    for n, part in enumerate(msg.iter_attachments(), start=1):
        content_type = part.get_content_type()
        if part.get_content_maintype() == "message":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            content = inner.as_bytes() if isinstance(inner, EmailMessage) else b""
        elif part.get_content_maintype() == "multipart":
            content = part.as_bytes()
        else:
            content = part.get_payload(decode=True) or b""
        filename = _clean(part.get_filename() or "").strip().replace("/", "_").replace("\\", "_")[:255]
        yield Attachment(filename=filename or f"attachment-{n}", content_type=content_type[:200], content=content)
