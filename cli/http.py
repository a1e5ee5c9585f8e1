"""The command line's HTTP client: finds the API, sends the token, turns every failure into one reason."""

import contextlib
import mimetypes
import os
from collections.abc import Iterator
from pathlib import Path

import httpx

from stack.config import load_settings

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT = httpx.Timeout(60.0, connect=5.0)


class CliError(Exception):
    """A failure the person at the terminal can act on; shown as one line, `error: <reason>`."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the API's HTTP status, when the API refused


def api_url() -> str:
    """GUARANTEE_API_URL, else the address `guarantee up` wrote under GUARANTEE_HOME, else the default."""
    url = os.environ.get("GUARANTEE_API_URL")
    if url:
        return url.rstrip("/")
    try:
        written = load_settings().api_url_file.read_text().strip()
    except OSError:
        written = ""
    return written.rstrip("/") or DEFAULT_URL


def token_from(arg: str | None) -> str:
    token = arg or os.environ.get("GUARANTEE_TOKEN")
    if not token:
        raise CliError(
            "no token: pass --token or set GUARANTEE_TOKEN (`guarantee users add NAME --role ROLE` prints one)"
        )
    return token


class Api:
    def __init__(self, token: str | None, url: str | None = None):
        self.url = url or api_url()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT)

    def __enter__(self) -> "Api":
        return self

    def __exit__(self, *exc) -> None:
        self._http.close()

    def get(self, path: str, **params) -> dict:
        return self._send("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, json: dict | None = None, *, data: dict | None = None, file: Path | None = None) -> dict:
        if file is None:
            return self._send("POST", path, json=json if json is not None else {})
        try:
            content = file.read_bytes()
        except OSError as err:
            raise CliError(f"cannot read {file}: {err.strerror or err}") from None
        return self._send("POST", path, data=data or {}, files={"file": (file.name, content, _content_type(file))})

    def put(self, path: str, json: dict) -> dict:
        return self._send("PUT", path, json=json)

    def text(self, path: str, accept: str = "text/csv", **params) -> Iterator[str]:
        """A text answer (the API's CSV) in chunks as it arrives, never held whole; failures are CliErrors."""
        params = {k: v for k, v in params.items() if v is not None}
        with self._talking(), self._http.stream("GET", path, params=params, headers={"Accept": accept}) as response:
            if not response.is_success:
                response.read()
                raise CliError(_reason(response), status=response.status_code)
            got = response.headers.get("content-type", "")
            if not got.startswith(accept):
                raise CliError(f"the API at {self.url} answered {got or 'without a content type'}, not {accept}")
            yield from response.iter_text()

    def _send(self, method: str, path: str, **kwargs) -> dict:
        with self._talking():
            response = self._http.request(method, path, **kwargs)
        if response.is_success:
            return response.json()
        raise CliError(_reason(response), status=response.status_code)

    @contextlib.contextmanager
    def _talking(self) -> Iterator[None]:
        """httpx's failures as one reason each."""
        try:
            yield
        except httpx.ConnectError:
            raise CliError(
                f"the API is not running at {self.url}: start it with `guarantee up` (or `./run up`), "
                "or point GUARANTEE_API_URL at it"
            ) from None
        except httpx.TimeoutException:
            raise CliError(f"the API at {self.url} did not answer in time") from None
        except httpx.HTTPError as err:
            raise CliError(f"cannot talk to the API at {self.url}: {err}") from None


def _reason(response: httpx.Response) -> str:
    """The API's own message for a failed request ({"error": {"code", "message"}}), on one line."""
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = f"the API answered {response.status_code} {response.reason_phrase}: {response.text[:200]}"
    return " ".join(str(message).split())


def _content_type(file: Path) -> str:
    return mimetypes.guess_type(file.name)[0] or "application/octet-stream"
