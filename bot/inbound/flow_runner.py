"""The flow engine at the I/O edge: a stored message in, the engine's turn, its effects done, Cloud API bodies out.

This is the dispatcher's handler. It reads the session row into a `State`, lets `bot.engine.core` react to
the message, performs what the engine asks for (an action, a one-time code) inside the turn's transaction
and hands the result back, and builds the replies with `bot.whatsapp.message_body` and the templates. A
call to the business's endpoint is not made in the transaction: the turn ends with it `deferred`, and the
dispatcher makes it once the round is committed, then resumes the turn (`DeferredCall`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.engine.core import Engine
from bot.engine.state import (
    ActionDone,
    Buttons,
    CallEndpoint,
    CheckCode,
    CodeChecked,
    CodeSent,
    Effect,
    Enter,
    Event,
    FormAnswer,
    Inbound,
    LinkButton,
    ListMenu,
    LocationRequest,
    Output,
    RunAction,
    Say,
    SendCode,
    SendForm,
    SendMedia,
    SendTemplate,
    State,
    TimedOut,
    Who,
)
from bot.errors import BotError, OTPRefused
from bot.inbound.actions import ACTIONS, Action, ActionContext
from bot.inbound.dispatcher import TurnResult
from bot.inbound.endpoint_call import EndpointCaller
from bot.media.upload import project_file_message
from bot.message_templates.library import TemplateLibrary, to_cloud_api
from bot.notifications.service import AppointmentNotices
from bot.otp.service import OtpService
from bot.whatsapp.flow_reply import nfm_reply
from bot.whatsapp.message_body import (
    CAPTION_MAX,
    buttons_message,
    cta_url_message,
    flow_message,
    list_message,
    location_request_message,
    media_message,
    text_message,
)
from bot.whatsapp.message_shape import shared_location
from storage import media
from storage.campaign import campaign_entry
from storage.models import ContactBase, MessageBase, SessionBase

log = structlog.get_logger("bot.inbound.flow_runner")

MAX_EFFECTS_PER_TURN = 10
FILE_ANSWERS = ("image", "document")  # files an `ask` may want; its slot names the stored media row


@dataclass
class FlowRunner:
    """Runs customers' messages through the flows; one instance per process, no state of its own."""

    engine: Engine
    library: TemplateLibrary
    otp: OtpService | None = None
    notices: AppointmentNotices | None = None  # the app's appointment logic (templates, reminder lead)
    actions: Mapping[str, Action] = field(default_factory=lambda: ACTIONS)
    endpoints: EndpointCaller | None = None  # the business's endpoints; None: `http` steps fail to on_error

    async def handle(
        self,
        *,
        contact: ContactBase,
        message: MessageBase,
        session: SessionBase | None,
        now: datetime,
        conn: AsyncConnection,
    ) -> TurnResult:
        state = State.from_row(session.model_dump() if session else None)
        event: Event = inbound(message)
        if message.type in FILE_ANSWERS:  # a photo or a document may answer an `ask`
            event = replace(inbound(message), media=await sent_file(conn, message))
        if message.type == "button":  # a template's quick reply: a campaign's tap enters the flow it names
            entry = await campaign_entry(conn, _context_id(message))
            if entry is not None:
                event = Enter(entry.flow, {"campaign": entry.campaign_id, "campaign_name": entry.name})
        return await self.run(state, event, contact, now, conn)

    async def time_out(
        self, *, contact: ContactBase, session: SessionBase | None, now: datetime, conn: AsyncConnection
    ) -> TurnResult:
        """The waiting step's timeout or the session's idle expiry, as the engine's `TimedOut` event."""
        state = State.from_row(session.model_dump() if session else None)
        return await self.run(state, TimedOut(), contact, now, conn)

    async def run(
        self, state: State, event: Event, contact: ContactBase, now: datetime, conn: AsyncConnection
    ) -> TurnResult:
        """One event through the engine, its effects done in `conn`; the replies as Cloud API bodies."""
        who = Who(contact.wa_id, contact.name, contact.language)
        turn = self.engine.handle(state, event, who, now)
        outputs = list(turn.outputs)
        deferred = None
        for _ in range(MAX_EFFECTS_PER_TURN):
            if turn.effect is None:
                break
            call = self._call(turn.effect, contact)
            if call is not None:  # the business's endpoint: called once the round's transaction is over
                deferred = DeferredCall(self, call, contact, (turn.state.flow, turn.state.step, turn.state.version))
                break
            result = await self._perform(turn.effect, contact, now, conn)
            turn = self.engine.handle(turn.state, result, who, now)
            outputs += turn.outputs
        else:
            log.error("turn.too_many_effects", flow=turn.state.flow, step=turn.state.step)
        log.info("turn.flow", flow=turn.state.flow, step=turn.state.step, replies=len(outputs))
        to = contact.wa_id or contact.user_id or ""
        bodies = [self._body(o, to, contact.language) for o in outputs]
        return TurnResult(outgoing=bodies, session=turn.state.to_row(), deferred=deferred)

    def _call(self, effect: Effect, contact: ContactBase) -> Callable[[], Awaitable[ActionDone]] | None:
        """The call to the business's endpoint `effect` asks for, if it asks for one."""
        endpoints = self.endpoints
        if endpoints is None:
            return None
        if isinstance(effect, CallEndpoint):
            return lambda: endpoints.call(effect.endpoint, effect.query, effect.body, effect.timeout)
        if isinstance(effect, RunAction) and endpoints.serves(effect.name):
            return lambda: endpoints.run_action(effect.name, effect.args, contact.wa_id, effect.timeout)
        return None

    async def _perform(self, effect: Effect, contact: ContactBase, now: datetime, conn: AsyncConnection) -> Event:
        if isinstance(effect, RunAction):
            return await self._act(effect, contact, now, conn)
        if isinstance(effect, CallEndpoint):  # with endpoints, `_call` takes these out of the transaction
            return ActionDone(error="no endpoints")
        wa_id = contact.wa_id or ""
        if self.otp is None or not wa_id:  # no code service, or a contact known only by user id
            return (
                CodeSent(False, "no number to send a code to") if isinstance(effect, SendCode) else CodeChecked(False)
            )
        if isinstance(effect, SendCode):
            try:
                await self.otp.request_code_in(conn, wa_id, effect.purpose)
            except OTPRefused as exc:
                return CodeSent(False, exc.reason)
            return CodeSent(True)
        assert isinstance(effect, CheckCode)
        return CodeChecked(await self.otp.verify_code_in(conn, wa_id, effect.purpose, effect.code))

    async def _act(self, effect: RunAction, contact: ContactBase, now: datetime, conn: AsyncConnection) -> ActionDone:
        action = self.actions.get(effect.name)
        if action is None:
            log.error("action.unknown", action=effect.name)
            return ActionDone(error=f"no action named {effect.name}")
        context = ActionContext(conn, contact, now, self.engine.zone, self.notices)
        try:
            async with asyncio.timeout(effect.timeout.total_seconds()):
                return ActionDone(value=await action(context, effect.args))
        except TimeoutError:
            log.warning("action.timed_out", action=effect.name, timeout_s=effect.timeout.total_seconds())
            return ActionDone(error="timeout")
        except BotError as exc:
            return ActionDone(error=exc.message)
        except Exception as exc:  # an action's bug becomes the step's error exit, not a failed turn
            log.error("action.failed", action=effect.name, error=f"{type(exc).__name__}: {exc}")
            return ActionDone(error=type(exc).__name__)

    def _body(self, output: Output, to: str, language: str | None) -> dict[str, Any]:
        if isinstance(output, Say):
            return text_message(to, output.text[:4096])
        if isinstance(output, SendMedia):
            caption = output.caption[:CAPTION_MAX] if output.caption else None
            if output.file is not None:
                return project_file_message(to, output.kind, output.file, caption=caption, filename=output.filename)
            return media_message(to, output.kind, link=output.link, caption=caption, filename=output.filename)
        if isinstance(output, Buttons):
            buttons = [(o.id, o.title) for o in output.options]
            return buttons_message(to, output.text, buttons, header=output.header, footer=output.footer)
        if isinstance(output, ListMenu):
            rows = [(o.id, o.title, o.description) for o in output.options]
            sections = [(None, rows)]
            return list_message(to, output.text, output.button, sections, header=output.header, footer=output.footer)
        if isinstance(output, LinkButton):
            header, footer = output.header, output.footer
            return cta_url_message(to, output.text, output.button, output.url, header=header, footer=footer)
        if isinstance(output, LocationRequest):
            return location_request_message(to, output.text)
        if isinstance(output, SendForm):
            return flow_message(
                to,
                output.text,
                cta=output.cta,
                token=output.token,
                flow_name=None if output.flow_id else output.flow_json,
                flow_id=output.flow_id,
                screen=output.screen,
                data=output.data,
                action=output.action,
                header=output.header,
                footer=output.footer,
            )
        assert isinstance(output, SendTemplate)
        template = self.library.get(output.name, language)
        return to_cloud_api(template, to, output.values)


@dataclass
class DeferredCall:
    """A call to the business's endpoint, made outside the round's transaction; then the rest of the turn.

    The rest runs only if the session is still where the call was asked for: a customer who moved on
    meanwhile (another process handled their next message) is not sent back. `at` is (flow, step, version).
    """

    runner: FlowRunner
    call: Callable[[], Awaitable[ActionDone]]
    contact: ContactBase
    at: tuple[str | None, str | None, str | None]
    outcome: ActionDone | None = None

    async def perform(self) -> None:
        self.outcome = await self.call()

    async def resume(self, *, session: SessionBase | None, now: datetime, conn: AsyncConnection) -> TurnResult:
        state = State.from_row(session.model_dump() if session else None)
        if self.outcome is None or (state.flow, state.step, state.version) != self.at:
            log.warning("endpoint.outcome_dropped", flow=self.at[0], step=self.at[1])
            return TurnResult()
        return await self.runner.run(state, self.outcome, self.contact, now, conn)


def _context_id(message: MessageBase) -> str | None:
    """The wamid of our message the customer's message answers (a quick reply's template)."""
    context = (message.body or {}).get("context")
    value = context.get("id") if isinstance(context, dict) else None
    return value if isinstance(value, str) else None


def inbound(message: MessageBase) -> Inbound:
    """A stored message as the engine sees it: its kind, its text, and the id of a tapped reply."""
    kind = message.type
    body = message.body or {}
    # The body is what the customer's phone sent, stored as it came: any field may be of another type.
    form = nfm_reply(body)
    if form is not None:  # a WhatsApp Flow's answer
        return Inbound("interactive", message.text, None, FormAnswer(form.token, form.fields, form.error))
    if kind == "interactive":
        reply = _mapping(body.get("interactive"))
        chosen = _mapping(reply.get("button_reply")) or _mapping(reply.get("list_reply"))
        return Inbound("interactive", _text(chosen.get("title")), _text(chosen.get("id")) or message.reply_id)
    if kind == "button":  # a template's quick-reply button
        button = _mapping(body.get("button"))
        return Inbound("button", _text(button.get("text")), _text(button.get("payload")) or message.reply_id)
    if kind == "location":  # a shared place: a `request_location` step's or an `ask` for a location's answer
        return Inbound(kind, message.text, None, location=shared_location(body))
    return Inbound(kind, message.text, None)


async def sent_file(conn: AsyncConnection, message: MessageBase) -> dict[str, Any] | None:
    """What a photo or a document answers an `ask` with: the media row the file is stored by.

    The file itself is fetched in the background (`bot.media.fetcher`); the slot names its media row, which
    the dashboard shows once it is stored.
    """
    found = (await media.for_messages(conn, [message.id])).get(message.id) if message.id is not None else None
    if found is None:
        return None
    sent = {"media": found.id, "kind": found.kind, "mime_type": found.declared_mime}
    return sent | {k: v for k, v in (("caption", found.caption), ("filename", found.filename)) if v}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
