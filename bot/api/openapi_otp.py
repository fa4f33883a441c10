"""The one-time code part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.openapi_parts import ERRORS, error_answer, json_body, ok, ref
from bot.api.otp_model import OtpRequest, OtpSent, OtpVerified, OtpVerify

MODELS = (OtpRequest, OtpVerify)  # request bodies
ANSWERS = (OtpSent, OtpVerified)  # answer bodies
PATHS: dict[str, Any] = {
    "/api/otp": {
        "post": {
            "summary": "Send a one-time code through the purpose's authentication template",
            "description": "The answer is the same whether or not the number was known. At most 5 codes per "
            "number and purpose per 10 minutes, 30 s apart; a code lives 10 minutes and allows 5 wrong tries.",
            "requestBody": json_body(ref("OtpRequest")),
            "responses": {
                "202": {
                    "description": "The code is queued for sending",
                    "content": {"application/json": {"schema": ref("OtpSent")}},
                },
                **ERRORS,
                "409": error_answer("template_not_approved: Meta has not approved the purpose's template (its reason)"),
                "429": {
                    "description": "Too soon, too many, or locked after wrong tries; see Retry-After",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
                    "content": {"application/json": {"schema": ref("Error")}},
                },
            },
        }
    },
    "/api/otp/verify": {
        "post": {
            "summary": "Check a one-time code; a right code is used up, a wrong one costs a try",
            "requestBody": json_body(ref("OtpVerify")),
            "responses": ok(ref("OtpVerified"), "Whether the code was right (and nothing about why not)"),
        }
    },
}
