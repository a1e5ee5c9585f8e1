"""The SMTP receiver: aiosmtpd in the caller's event loop, handing each message's raw bytes to `deliver`.

Knows nothing of claims: `deliver(raw)` (the intake service, wired by whoever starts it) stores and
routes the message, and its outcome decides the SMTP answer. A message larger than `max_bytes` is
refused by aiosmtpd itself with `552` (at MAIL FROM when the client announces its SIZE, else at
the end of DATA), before anything is handed on.
"""

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)

Deliver = Callable[[bytes], Awaitable[object]]


class Handler:
    def __init__(self, deliver: Deliver, is_outage: Callable[[BaseException], bool]):
        self.deliver, self.is_outage = deliver, is_outage

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        try:
            await self.deliver(raw)
        except Exception as err:
            if self.is_outage(err):
                return "451 4.3.0 The claims service cannot store mail right now; try again later"
            log.exception("a received message could not be stored")
            return "554 5.6.0 The message could not be read"
        return "250 2.0.0 Message accepted"


@dataclass
class Receiver:
    server: asyncio.AbstractServer
    port: int

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start(
    deliver: Deliver,
    sock: socket.socket,
    max_bytes: int,
    is_outage: Callable[[BaseException], bool] = lambda err: False,
    hostname: str = "guarantee",
) -> Receiver:
    """Serve SMTP on the listening `sock` in this event loop until `stop()`."""
    handler = Handler(deliver, is_outage)
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        return SMTP(handler, data_size_limit=max_bytes, hostname=hostname, ident="Guarantee payouts intake", loop=loop)

    server = await loop.create_server(protocol, sock=sock)
    return Receiver(server, sock.getsockname()[1])
