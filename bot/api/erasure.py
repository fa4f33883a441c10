"""`POST /api/contacts/{wa_id}/erase`: the right to erasure, and what it erased, cancelled and kept.

A POST to a verb rather than `DELETE /api/contacts/{wa_id}`: the contact does not simply go. Its consent
ledger and conversations stay (pseudonymous), queued messages are cancelled, raw webhook bodies are
rewritten, and the answer says what happened to each; a second call answers 200 again, saying the number
was already erased. `DELETE` would promise a plain removal and invite a casual call; an explicit `erase`
reads as what it is in logs, in the OpenAPI document and beside the other actions (`/campaigns/{id}/cancel`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot import keys
from bot.api.request import json_response, valid_wa_id
from bot.media.store import MEDIA_STORE
from bot.privacy.erasure import erase_contact
from storage.erasure import ErasureReport


def report_json(report: ErasureReport) -> dict[str, Any]:
    """The erasure as the API answers it; the number itself is not repeated."""
    return {
        "erased": True,
        "already_erased": report.already_erased,
        "pseudonym": report.pseudonym,
        "cancelled": report.cancelled,
        "deleted": report.deleted,
        "blanked": report.blanked,
        "kept": report.kept,
    }


async def erase(request: web.Request) -> web.Response:
    """`POST /api/contacts/{wa_id}/erase`: erase the contact's number, name and words; keep the consent evidence."""
    app = request.config_dict
    wa_id = valid_wa_id(request.match_info["wa_id"])
    report = await erase_contact(
        app[keys.REPOSITORY], app[keys.SETTINGS].secret_key, wa_id, app[keys.CLOCK](), media=app[MEDIA_STORE]
    )
    return json_response(report_json(report))


routes = (web.post("/contacts/{wa_id}/erase", erase),)
