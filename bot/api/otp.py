"""`POST /api/otp` and `POST /api/otp/verify`: send a one-time code, and check one without saying why it failed."""

from __future__ import annotations

from aiohttp import web

from bot.api.request import json_body, json_response, valid_wa_id
from bot.errors import ValidationError
from bot.otp.service import OTP

_CODE_MAX = 32  # far above six digits with spaces; a longer "code" is not a typing slip


async def _strings(request: web.Request, fields: tuple[str, ...]) -> dict[str, str]:
    """The body as a JSON object whose `fields` are all present strings; anything else is a 400."""
    body = await json_body(request)
    bad = [name for name in fields if not isinstance(body.get(name), str)]
    if bad:
        raise ValidationError(f"{', '.join(bad)} must be given as string(s)")
    return {name: body[name] for name in fields}


async def request_otp(request: web.Request) -> web.Response:
    """Send a one-time code; the answer is the same whether or not the number was known."""
    body = await _strings(request, ("wa_id", "purpose"))
    await request.config_dict[OTP].request_code(valid_wa_id(body["wa_id"]), body["purpose"])
    return json_response({"status": "sent"}, 202)


async def verify_otp(request: web.Request) -> web.Response:
    """Check a one-time code: `{"verified": bool}` and nothing about why not."""
    body = await _strings(request, ("wa_id", "purpose", "code"))
    wa_id = valid_wa_id(body["wa_id"])
    if len(body["code"]) > _CODE_MAX:
        raise ValidationError(f"code must be at most {_CODE_MAX} characters")
    verified = await request.config_dict[OTP].verify_code(wa_id, body["purpose"], body["code"])
    return json_response({"verified": verified})


routes = (
    web.post("/otp", request_otp),
    web.post("/otp/verify", verify_otp),
)
