"""`POST /api/otp` and `POST /api/otp/verify`: send a one-time code, and check one without saying why it failed."""

from __future__ import annotations

from aiohttp import web

from bot.api.model import validated
from bot.api.otp_model import OtpRequest, OtpVerify
from bot.api.request import json_body, json_response
from bot.otp.service import OTP


async def request_otp(request: web.Request) -> web.Response:
    """Send a one-time code; the answer is the same whether or not the number was known."""
    given = validated(OtpRequest, await json_body(request))
    await request.config_dict[OTP].request_code(given.wa_id, given.purpose)
    return json_response({"status": "sent"}, 202)


async def verify_otp(request: web.Request) -> web.Response:
    """Check a one-time code: `{"verified": bool}` and nothing about why not."""
    given = validated(OtpVerify, await json_body(request))
    verified = await request.config_dict[OTP].verify_code(given.wa_id, given.purpose, given.code)
    return json_response({"verified": verified})


routes = (
    web.post("/otp", request_otp),
    web.post("/otp/verify", verify_otp),
)
