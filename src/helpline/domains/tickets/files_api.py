"""HTTP API of files: upload ahead of a message, download an attachment you may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile

from helpline.domains.tickets import content, queries
from helpline.domains.tickets.schemas import UploadRead
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.downloads import stored_file
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["files"])


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadRead,
    summary="Upload a file; pass the returned token in a message's `attachments`",
)
async def upload(
    file: Annotated[UploadFile, File(description="The file")], actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    s = platform.settings
    data = await file.read(s.max_attachment_bytes + 1)
    async with platform.db.transaction() as uow:
        item = await content.store_upload(
            uow,
            platform.storage,
            workspace_id=actor.workspace_id,
            user_id=actor.user_id,
            filename=file.filename or "file",
            content_type=file.content_type,
            data=data,
            max_bytes=s.max_attachment_bytes,
            blocked=s.blocked_attachment_types,
        )
    return JSON(item, status_code=201)


@router.get(
    "/attachments/{attachment_id}",
    summary="Download an attachment",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        404: {"description": "Not yours, or missing"},
    },
)
async def download(attachment_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.read() as conn:
        row = await queries.access_attachment(conn, actor, attachment_id)
    return await stored_file(platform, row["sha256"], row["filename"], media_type=row["content_type"])
