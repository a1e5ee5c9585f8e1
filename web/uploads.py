"""A file a person uploads as evidence, staged in the evidence store until the claim accepts it."""

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from rules.errors import DomainError
from schema.claims import EvidenceAdd, FileRef
from service.evidence import EvidenceTooLarge, StagedFile


async def staged_evidence(ctx, upload: UploadFile, fields: dict) -> tuple[EvidenceAdd, StagedFile]:
    """The upload streamed into the store (within its size limit) and the evidence naming it.

    A refused file (too large, or evidence that does not validate) leaves nothing in the store.
    """
    staged = ctx.evidence.stage()
    try:
        while chunk := await upload.read(1024 * 1024):
            await run_in_threadpool(staged.write, chunk)
        await run_in_threadpool(staged.finish)
        ref = FileRef(
            sha256=staged.sha256,
            filename=upload.filename[:255],
            content_type=(upload.content_type or "application/octet-stream")[:200],
            size_bytes=staged.size,
        )
        return EvidenceAdd.model_validate(fields | {"file": ref}), staged
    except EvidenceTooLarge as err:
        staged.discard()
        raise DomainError("too_large", f"{upload.filename}: {err}") from None
    except ValidationError:
        staged.discard()
        raise
