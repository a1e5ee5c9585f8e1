"""Evidence uploads (multipart/form-data), streamed: the file part goes to a staged file in the
evidence store as it arrives, hashed on the way, and is refused with 413 the moment it passes
25 MB, without reading further. Nothing of the file is held in memory, nor spooled elsewhere.

The form: `file` (optional, one), `kind`, `source`, `note` (text fields, small).
"""

import codecs
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.errors import ApiError
from schema.bounds import invisible_characters
from service.evidence import EvidenceStore, EvidenceTooLarge, StagedFile

MAX_FIELDS_BYTES = 64 * 1024  # kind, source and a note of at most 10,000 characters, with room to spare
MAX_PARTS = 8
MAX_HEADER_BYTES = 8 * 1024
FILE_FIELD = "file"


@dataclass
class Upload:
    """What the form held: its text fields, and the staged file with its name and type (if one came)."""

    fields: dict[str, str] = field(default_factory=dict)
    file: StagedFile | None = None
    filename: str = ""
    content_type: str = ""

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


class _Part:
    def __init__(self):
        self.headers: list[tuple[bytes, bytes]] = []
        self.name = ""
        self.file: StagedFile | None = None
        self.data = bytearray()


def invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_request", message)


class _Reader:
    """python-multipart's callbacks: they note what arrives; `read` does the (threaded) file writes."""

    def __init__(self, store: EvidenceStore, charset: str):
        self.store, self.charset = store, charset
        self.upload = Upload()
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.header_bytes = 0
        self.parts = 0
        self.field_bytes = 0
        self.pending: list[bytes] = []  # file bytes to write
        self.ended = False

    def _text(self, raw: bytes) -> str:
        try:
            return raw.decode(self.charset)
        except (UnicodeDecodeError, LookupError):
            raise invalid("the form is not valid UTF-8") from None

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise invalid(f"the form has more than {MAX_PARTS} parts")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_bytes(end - start)
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_bytes(end - start)
        self.header_value += data[start:end]

    def _header_bytes(self, n: int) -> None:
        self.header_bytes += n
        if self.header_bytes > MAX_HEADER_BYTES:
            raise invalid("the form's part headers are too long")

    def on_header_end(self) -> None:
        self.part.headers.append((self.header_name.lower(), self.header_value))
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        headers = dict(self.part.headers)
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise invalid('every part of the form needs Content-Disposition with a "name"')
        self.part.name = self._text(options[b"name"])
        if b"filename" not in options:
            if self.part.name == FILE_FIELD:
                raise invalid("file: send a file (a part with a filename), not text")
            return
        if self.part.name != FILE_FIELD:
            raise invalid(f"{self.part.name}: only `{FILE_FIELD}` may be a file")
        if self.upload.file is not None:
            raise invalid("file: one file per piece of evidence")
        self.upload.filename = self._text(options[b"filename"]) or "upload"
        content_type = self._text(headers.get(b"content-type", b"")).strip() or "application/octet-stream"
        self.upload.content_type = content_type
        _check_names(self.upload.filename, content_type)
        self.part.file = self.upload.file = self.store.stage()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.file is not None:
            self.pending.append(data[start:end])
            return
        self.field_bytes += end - start
        if self.field_bytes > MAX_FIELDS_BYTES:
            raise ApiError(413, "too_large", f"the form's text fields are larger than {MAX_FIELDS_BYTES} bytes")
        self.part.data += data[start:end]

    def on_part_end(self) -> None:
        if self.part.file is None:
            self.upload.fields[self.part.name] = self._text(bytes(self.part.data))

    def on_end(self) -> None:
        self.ended = True


def _check_names(filename: str, content_type: str) -> None:
    if len(content_type) > 200:
        raise invalid("file: its content type is longer than 200 characters")
    for what, text in (("file name", filename), ("content type", content_type)):
        if "\x00" in text:
            raise invalid("NUL characters (\\u0000) are not allowed")
        found = invisible_characters(text)
        if found:
            raise invalid(f"file: control and format characters are not allowed in its {what} ({', '.join(found)})")


def _write(file: StagedFile, chunks: list[bytes]) -> None:
    for chunk in chunks:
        file.write(chunk)


async def read_upload(request: Request, store: EvidenceStore) -> Upload:
    """The form, its file staged in `store`; on any failure the staged file is deleted and the error raised."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "invalid_request", "multipart/form-data needs a boundary")
    charset = params.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:
        raise ApiError(400, "invalid_request", f"unknown charset {charset!r}") from None
    reader = _Reader(store, charset)
    callbacks = {name: getattr(reader, name) for name in dir(_Reader) if name.startswith("on_")}
    try:
        parser = MultipartParser(boundary, callbacks)
        async for chunk in request.stream():
            parser.write(chunk)
            if reader.pending:
                chunks, reader.pending = reader.pending, []
                await run_in_threadpool(_write, reader.upload.file, chunks)
        parser.finalize()
        if not reader.ended:
            raise ApiError(400, "invalid_request", "the multipart body ended before its closing boundary")
        if reader.upload.file is not None:
            await run_in_threadpool(reader.upload.file.finish)
    except EvidenceTooLarge as err:
        reader.upload.discard()
        raise ApiError(413, "too_large", str(err)) from None
    except FormParserError:
        reader.upload.discard()
        raise ApiError(400, "invalid_request", "the multipart body is not valid") from None
    except BaseException:
        reader.upload.discard()
        raise
    return reader.upload
