"""Listening sockets and free ports for the servers the product starts."""

import errno
import socket

HOST = "127.0.0.1"


def bind(port: int = 0, host: str = HOST, *, or_any: bool = True) -> socket.socket:
    """A listening socket on `port`; if it is taken and `or_any`, on a free one instead (0: any free one).

    IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say TCP, and
    without it every answer waits ~40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            sock.bind((host, port))
        except OSError as err:
            if not or_any or err.errno != errno.EADDRINUSE:
                raise
            sock.bind((host, 0))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def free_port(preferred: int = 0, host: str = HOST) -> int:
    """`preferred` if nothing listens there now, else a free port, for a server started by port number."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, preferred))
        except OSError:
            sock.bind((host, 0))
        return sock.getsockname()[1]


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
