"""WhatsApp Flows in the sandbox: the project's Flow JSON served to the chat page, and the answer sent as Meta would.

On a phone a Flow opens as native screens; the chat page draws the first screen as a plain form from the
Flow JSON (`GET /sandbox/flows/{name}`). Submitting it posts ``{"flow": {...answers}}`` to the customer
simulator, which finds the bot's latest Flow message and sends the ``interactive.nfm_reply`` webhook Meta
sends: the answers, with that message's `flow_token`, as the JSON text `response_json`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from bot.errors import BotError, NotFound, ValidationError
from bot.sandbox.http import error_response
from bot.sandbox.state import ChatItem
from bot.sandbox.wire import DISPLAY_PHONE_NUMBER
from bot.whatsapp.flow_reply import MAX_CHARS, FlowReply, answers_text

FLOW_JSONS: Final = web.AppKey("sandbox_flow_jsons", Path)  # the project's whatsapp_flows folder
NAME = re.compile(r"[a-z_][a-z0-9_]*")  # as `form` steps name their Flow JSON: no path can hide in it


def add_routes(app: web.Application, folder: Path) -> None:
    app[FLOW_JSONS] = folder
    app.router.add_get("/sandbox/flows/{name}", flow_json)


async def flow_json(request: web.Request) -> web.Response:
    """``GET /sandbox/flows/{name}``: the project's Flow JSON `whatsapp_flows/<name>.json`, for the chat page."""
    name = request.match_info["name"]
    try:
        if not NAME.fullmatch(name):
            raise NotFound(f"no Flow JSON {name!r}")
        path = request.app[FLOW_JSONS] / f"{name}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"no Flow JSON {name!r} in the project's whatsapp_flows folder") from None
        except ValueError as exc:  # `bot check` says where; the page only needs to know it cannot draw it
            raise ValidationError(f"Flow JSON {name!r} is not JSON: {exc}") from None
    except BotError as exc:
        return error_response(exc)
    return web.json_response(data, headers={"Cache-Control": "no-cache"})


def flow_answer(
    wa_id: str, chat: list[ChatItem], answers: Any, wamid: str, now: datetime
) -> tuple[dict[str, Any], ChatItem]:
    """The ``messages[]`` entry of a submitted Flow, and its chat entry; the token is the latest Flow's own.

    `answers` may name its ``flow_token`` (to answer an older Flow message, say); otherwise the latest one's.
    """
    if not isinstance(answers, dict):
        raise ValidationError('"flow" must be an object of the form\'s answers')
    sent = _latest_flow(chat)
    token = answers.get("flow_token", sent.get("flow_token", "unused"))
    response = {**answers, "flow_token": token}
    text = json.dumps(response, ensure_ascii=False)
    if len(text) > MAX_CHARS:
        raise ValidationError(f"the answers are {len(text)} characters as JSON; at most {MAX_CHARS}")
    reply = {"name": "flow", "body": "Sent", "response_json": text}
    message: dict[str, Any] = {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(now.timestamp())),
        "type": "interactive",
        "interactive": {"type": "nfm_reply", "nfm_reply": reply},
        "context": {"from": DISPLAY_PHONE_NUMBER, "id": sent["wamid"]},
    }
    fields = {k: v for k, v in answers.items() if k != "flow_token"}
    shown = answers_text(FlowReply(str(token), fields))
    item = ChatItem("in", wamid, now, "interactive", shown, "sent", interactive=message["interactive"])
    return message, item


def _latest_flow(chat: list[ChatItem]) -> dict[str, Any]:
    """The wamid and parameters of the bot's latest Flow message in this chat."""
    for item in reversed(chat):
        interactive = item.interactive
        if item.direction == "out" and interactive is not None and interactive.get("type") == "flow":
            return {"wamid": item.wamid, **interactive["action"]["parameters"]}
    raise ValidationError("no message from the bot has a Flow to answer")
