"""`/dashboard/media/{id}`: a customer's stored file, served only behind the dashboard's login.

The dashboard's guard has checked the session before this runs. Images are shown inline; every other file
is sent as an attachment, so a document is downloaded rather than opened as a page of this site, and no
file may run script here (`nosniff`, and a content security policy that allows nothing).
"""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from bot import keys
from bot.errors import NotFound
from bot.media.store import MEDIA_STORE
from bot.whatsapp.media import EXTENSIONS
from storage import media

routes = web.RouteTableDef()
INLINE = frozenset({"image/jpeg", "image/png", "image/webp"})


@routes.get(r"/media/{id:[0-9]{1,18}}")
async def media_file(request: web.Request) -> web.StreamResponse:
    """The file of one media row, if it is stored."""
    repository = request.config_dict[keys.REPOSITORY]
    async with repository.engine.connect() as conn:
        row = await media.by_id(conn, int(request.match_info["id"]))
    if row is None or row.status != media.STORED or row.sha256 is None:
        raise NotFound("no stored file with this id; it may not be fetched yet, or its retention ran out")
    path = request.config_dict[MEDIA_STORE].path(row.sha256)
    if not path.is_file():
        raise NotFound("the file is missing from the media store")
    mime = row.mime_type or "application/octet-stream"
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
        "Content-Type": mime,
    }
    if mime not in INLINE:
        name = row.filename or f"{row.kind}-{row.id}.{EXTENSIONS.get(mime, 'bin')}"
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{urllib.parse.quote(name)}"
    return web.FileResponse(path, headers=headers)
