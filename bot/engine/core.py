"""The flow engine's pure core: given the flows, a contact's state and an event, the next state and replies.

`Engine.handle` never does I/O. When a step needs some (an action, a one-time code) the turn ends with
an `effect`; the runner does it and hands the result back as the next event, and the engine goes on
from the same step. Every path ends in a reply the flow defines or one of the engine's own few
messages (help, a re-prompt, an apology), and a broken or changed flow file ends the flow politely
rather than raising.

Why one module of about 600 lines: the engine is one state machine; each step kind's handler reads and
returns the same private turn state, and splitting them apart would make that state public for no reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.engine import flow as f
from bot.engine.answer import Invalid, check
from bot.engine.expression import compile_expression
from bot.engine.form import check_answers, form_token
from bot.engine.match import exact, guess, intent
from bot.engine.render import render_text
from bot.engine.state import (
    ActionDone,
    Buttons,
    CallEndpoint,
    CheckCode,
    CodeChecked,
    CodeSent,
    Enter,
    Event,
    FormAnswer,
    Frame,
    Header,
    Inbound,
    LinkButton,
    ListMenu,
    LocationRequest,
    Output,
    Released,
    RunAction,
    Say,
    SendCode,
    SendForm,
    SendMedia,
    SendTemplate,
    State,
    TimedOut,
    Turn,
    Who,
)
from bot.errors import ValidationError
from bot.language.words import command as typed_command
from bot.language.words import message
from bot.whatsapp.rendered_template import HeaderMedia

MAIN_FLOW = "main"
MAX_STEPS_PER_TURN = 50  # a flow that loops through non-waiting steps stops here instead of spinning
MORE_ID = "__more"  # the last row of a page in a long list
CALL_LIMIT = timedelta(seconds=60)  # the longest an http step may take (an endpoint's longest timeout)
CALL_GRACE = timedelta(seconds=30)  # past its timeout and this, an act or http step's outcome is lost

# The engine's own messages, in English; `bot.language.words` has them in each language the turn uses.
CANCELLED = message("cancelled", None)
HELP = message("help", None)
HANDED_OFF = message("handed_off", None)
APOLOGY = message("apology", None)
EXHAUSTED = message("exhausted", None)
TIMED_OUT = message("timed_out", None)
NOT_TEXT = message("not_text", None)
CHANGED = message("changed", None)
WRONG_CODE = message("wrong_code", None)
CODE_REFUSED = message("code_refused", None)


@dataclass(frozen=True)
class Engine:
    """The flows, the business's time zone, and the Python validators flows may name."""

    flows: Mapping[str, f.Flow]
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    validators: Mapping[str, Callable[[str], Any]] = field(default_factory=dict)
    main: str = MAIN_FLOW

    def handle(self, state: State, event: Event, who: Who, now: datetime) -> Turn:
        """React to one event; the returned turn's state is what to store."""
        run = _Run(self, who, now, state)
        try:
            run.react(event)
        except _FlowBroken as broken:  # a flow file that cannot be followed: apologise, never crash
            run.finish(run.own("apology") if broken.apologise else None)
        return run.turn()


class _FlowBroken(Exception):
    def __init__(self, why: str, *, apologise: bool = True) -> None:
        super().__init__(why)
        self.apologise = apologise


class _Run:
    """One call of `Engine.handle`: the state as it changes, and what the turn says and asks for."""

    def __init__(self, engine: Engine, who: Who, now: datetime, state: State) -> None:
        self.engine, self.who, self.now, self.state = engine, who, now, state
        self.outputs: list[Output] = []
        self.effect: RunAction | CallEndpoint | SendCode | CheckCode | None = None

    def own(self, key: str) -> str:
        """One of the engine's own messages, in the contact's language."""
        return message(key, self.who.language)

    def turn(self) -> Turn:
        state = self.state
        if state.flow is not None:
            flow = self.engine.flows.get(state.flow)
            idle = flow.idle_timeout if flow else f.DEFAULT_IDLE
            state = replace(state, expires_at=self.now + idle)
        return Turn(state, tuple(self.outputs), self.effect)

    # -- events -------------------------------------------------------------------------------------

    def react(self, event: Event) -> None:
        state = self.state
        if isinstance(event, Released):
            self.state = replace(state, handed_off=False, flow=None, step=None, stack=(), attempts=0)
            return
        if state.handed_off:
            return  # a person has the conversation: the bot stays silent
        if isinstance(event, TimedOut):
            self._timed_out()
            return
        if isinstance(event, Enter):
            self.state = replace(State(), slots={**state.slots, **event.slots})
            self._start(event.flow if event.flow in self.engine.flows else self.engine.main)
            return
        if isinstance(event, Inbound):
            waiting_at = (state.flow, state.step)
            self._inbound(event)
            self._restart_timeout(waiting_at)
            return
        step = self._current()
        if step is None:
            return
        if isinstance(event, ActionDone) and isinstance(step, f.Act | f.Http):
            self._action_done(step, event)
        elif isinstance(event, CodeSent) and isinstance(step, f.Verify):
            self._code_sent(step, event)
        elif isinstance(event, CodeChecked) and isinstance(step, f.Verify):
            self._code_checked(step, event)

    def _inbound(self, message: Inbound) -> None:
        if message.kind == "reaction":
            return  # a reaction to one of our messages asks nothing
        text = (message.text or "").strip()
        step = self._current() if self.state.flow else None
        if self.state.flow and self.state.expires_at and self.now >= self.state.expires_at:
            step = None  # an expired session starts over
            self.state = State()
        if message.form is not None:  # a WhatsApp Flow's answer: for the form that is open, or none
            self._form_answer(step, message.form)
            return
        commands_on = step is None or not isinstance(step, f.WaitingStep) or step.commands
        if commands_on and message.reply_id is None:
            command = typed_command(text)
            if command == "agent":
                self._handoff(None)
                return
            if command == "cancel" and self.state.flow:
                self.finish(self.own("cancelled"))
                return
            if command == "help":
                self.outputs.append(Say(self.own("help")))
                if step is not None:
                    self._prompt(step)
                return
            if command == "menu" or (command == "cancel" and not self.state.flow):
                self._start(self.engine.main)
                return
        if step is None:
            if message.kind not in ("text", "button", "interactive"):
                self.outputs.append(Say(self.own("not_text")))
            self._start(self.engine.main)
            return
        if (
            isinstance(step, f.Ask | f.RequestLocation | f.Form)
            and message.reply_id is not None
            and self._tap_elsewhere(message)
        ):
            return
        if isinstance(step, f.Ask):
            self._answer(step, message, text)
        elif isinstance(step, f.RequestLocation):
            self._located(step, message)
        elif isinstance(step, f.Form):
            self._wrong(step, self.own("use_form"))
        elif isinstance(step, f.Choose):
            self._pick(step, message, text)
        elif isinstance(step, f.Verify):
            self._code(step, text)
        else:
            # The customer wrote while an action ran or the file changed: carry on from the menu.
            self._start(self.engine.main)

    # -- flow control -------------------------------------------------------------------------------

    def _flow(self) -> f.Flow:
        flow = self.engine.flows.get(self.state.flow or "")
        if flow is None:
            raise _FlowBroken(f"no flow {self.state.flow!r}")
        return flow

    def _current(self) -> f.AnyStep | None:
        """The step the state points at, or None (and a fresh start) when the flow file lost it."""
        if self.state.flow is None or self.state.step is None:
            return None
        flow = self.engine.flows.get(self.state.flow)
        step = flow.step(self.state.step) if flow else None
        if step is None:
            self.outputs.append(Say(self.own("changed")))
            self.state = replace(State(), slots=self.state.slots)
        return step

    def _start(self, name: str) -> None:
        flow = self.engine.flows.get(name)
        if flow is None:
            raise _FlowBroken(f"no flow {name!r}")
        self.state = replace(self.state, flow=name, step=None, stack=(), attempts=0, page=0, deadline=None)
        self._go(flow.start)

    def _go(self, step_id: str | None) -> None:
        """Enter `step_id` and run on through steps that need no answer, until one waits or the flow ends."""
        for _ in range(MAX_STEPS_PER_TURN):
            if step_id is None:
                self._return_or_finish()
                return
            flow = self._flow()
            step = flow.step(step_id)
            if step is None:
                raise _FlowBroken(f"flow {flow.name!r} has no step {step_id!r}")
            self.state = replace(
                self.state,
                step=step_id,
                attempts=0,
                page=0,
                version=flow.version,
                deadline=self._deadline(step),
                token=self._token(step),
            )
            next_id = self._enter(step)
            if next_id is _WAIT:
                return
            step_id = next_id
            if self.state.flow is None or self.state.handed_off:
                return
        raise _FlowBroken(f"more than {MAX_STEPS_PER_TURN} steps without waiting for the customer")

    def _restart_timeout(self, before: tuple[str | None, str | None]) -> None:
        """The customer answered (even wrongly): a step still waiting gives them its full timeout again."""
        if (self.state.flow, self.state.step) != before or self.state.flow is None or self.state.step is None:
            return
        flow = self.engine.flows.get(self.state.flow)
        step = flow.step(self.state.step) if flow else None
        if step is not None:
            self.state = replace(self.state, deadline=self._deadline(step))

    def _deadline(self, step: f.AnyStep) -> datetime | None:
        """A waiting step's timeout; for an act or http step, when its outcome is surely lost (a crash)."""
        if isinstance(step, f.Act | f.Http):
            return self.now + (step.timeout or CALL_LIMIT) + CALL_GRACE
        timeout = step.timeout if isinstance(step, f.WaitingStep) else None
        return self.now + timeout if timeout else None

    def _enter(self, step: f.AnyStep) -> Any:
        """Do what entering a step does; answer the next step id, None to end, or `_WAIT`."""
        if isinstance(step, f.Say):
            if step.media is not None:
                self._send(step.media)
            else:
                self._say(step.text)
            return step.next
        if isinstance(step, f.Link):
            self.outputs.append(self._link(step))
            return step.next
        if isinstance(step, f.WaitingStep):
            self._prompt(step)
            return _WAIT
        if isinstance(step, f.Act):
            args = {k: render_text(v, self._names()) for k, v in step.args.items()}
            self.effect = RunAction(step.action, args, step.timeout)
            return _WAIT
        if isinstance(step, f.Http):
            query = {k: render_text(v, self._names()) for k, v in step.query.items()}
            body = None if step.body is None else {k: render_text(v, self._names()) for k, v in step.body.items()}
            self.effect = CallEndpoint(step.endpoint, query, body, step.timeout)
            return _WAIT
        if isinstance(step, f.Branch):
            return self._branch(step)
        if isinstance(step, f.Goto):
            return step.goto
        if isinstance(step, f.Call):
            if step.flow not in self.engine.flows:
                raise _FlowBroken(f"no flow {step.flow!r} to call")
            frame = Frame(self.state.flow or "", step.next)
            self.state = replace(self.state, flow=step.flow, stack=(*self.state.stack, frame))
            return self.engine.flows[step.flow].start
        if isinstance(step, f.Handoff):
            self._handoff(step.text)
            return _WAIT
        if isinstance(step, f.Verify):
            if self._recently_verified(step):
                return step.next
            self.effect = SendCode(step.purpose)
            return _WAIT
        assert isinstance(step, f.End)
        self.finish(None, text=step.text)
        return _WAIT

    def _return_or_finish(self) -> None:
        if self.state.stack:
            *rest, frame = self.state.stack
            self.state = replace(self.state, flow=frame.flow, stack=tuple(rest))
            self._go(frame.step)
            return
        self.finish(None)

    def finish(self, message: str | None, *, text: f.Text | None = None) -> None:
        """End the flow (and any caller), saying `message` or `text`; the slots stay for next time."""
        if text is not None:
            self._say(text)
        elif message:
            self.outputs.append(Say(message))
        self.state = replace(self.state, flow=None, step=None, stack=(), attempts=0, page=0, deadline=None)

    def _handoff(self, text: f.Text | None) -> None:
        if text is not None:
            self._say(text)
        else:
            self.outputs.append(Say(self.own("handed_off")))
        self.state = replace(self.state, flow=None, step=None, stack=(), attempts=0, deadline=None, handed_off=True)

    def _timed_out(self) -> None:
        step = self._current()
        deadline = self.state.deadline
        if isinstance(step, f.WaitingStep) and deadline is not None and self.now >= deadline:
            self._exit(step.on_timeout, self.own("timed_out"))
            return
        if isinstance(step, f.Act | f.Http) and deadline is not None and self.now >= deadline:
            self._action_done(step, ActionDone(error="timeout"))  # its outcome never came back
            return
        if self.state.flow and self.state.expires_at and self.now >= self.state.expires_at:
            self.finish(self.own("timed_out"))

    # -- steps that wait ----------------------------------------------------------------------------

    def _prompt(self, step: f.AnyStep) -> None:
        if isinstance(step, f.Ask):
            self._say(step.prompt)
        elif isinstance(step, f.Choose):
            self.outputs.append(self._menu(step))
        elif isinstance(step, f.Form):
            self.outputs.append(self._form(step))
        elif isinstance(step, f.RequestLocation):
            self.outputs.append(LocationRequest(self._render(step.prompt) or self.own("choose")))
        elif isinstance(step, f.Verify) and step.prompt is not None:
            self._say(step.prompt)

    def _exit(self, target: str | None, message: str | None) -> None:
        """Leave through an explicit exit, or end the flow saying `message` when the step has none."""
        if target:
            self._go(target)
        else:
            self.finish(message)

    def _wrong(self, step: f.WaitingStep, hint: str | None, *, not_text: bool = False) -> None:
        """A wrong try: the distinct re-prompt (or the validator's hint and the question), or the exit."""
        attempts = self.state.attempts + 1
        if attempts >= step.max_attempts:
            self._exit(step.on_exhausted, self.own("exhausted"))
            return
        self.state = replace(self.state, attempts=attempts)
        if not_text:
            self.outputs.append(Say(self.own("not_text")))
            hint = None
        if isinstance(step, f.RequestLocation):  # the "Send location" button again, with the re-prompt's words
            self.outputs.append(LocationRequest(self._render(step.reprompt or step.prompt) or self.own("choose")))
        elif step.reprompt is not None:
            self._say(step.reprompt)
            if isinstance(step, f.Choose):  # the choices again, without repeating the question's text
                self.outputs.append(self._menu(step))
            elif isinstance(step, f.Form):  # the form again: its button is how the customer answers
                self._prompt(step)
        else:
            if hint:
                self.outputs.append(Say(hint))
            self._prompt(step)

    def _tap_elsewhere(self, message: Inbound) -> bool:
        """A tap on an earlier menu (this flow's or the main flow's) while a typed answer is awaited: go there."""
        for name in dict.fromkeys((self.state.flow or "", self.engine.main)):
            flow = self.engine.flows.get(name)
            if flow is None:
                continue
            for step in flow.steps.values():
                if isinstance(step, f.Choose) and any(o.id == message.reply_id for o in step.options):
                    if name != self.state.flow:
                        self.state = replace(self.state, flow=name, stack=())
                    self.state = replace(self.state, step=step.id, attempts=0, page=0, version=flow.version)
                    self._pick(step, message, "")
                    return True
        return False

    def _form_answer(self, step: f.AnyStep | None, answer: FormAnswer) -> None:
        """A Flow's answer: checked and kept when it answers the form now open; a stale one is politely ignored."""
        if not isinstance(step, f.Form) or (answer.token is not None and answer.token != self.state.token):
            self.outputs.append(Say(self.own("form_closed")))
            if step is not None:
                self._prompt(step)
            return
        values = check_answers(step.fields, answer.fields) if answer.error is None else None
        if values is None:
            self._wrong(step, self.own("form_invalid"))
            return
        for name, value in values.items():
            self._set(name, value)
        self._go(step.next)

    def _token(self, step: f.AnyStep) -> str | None:
        return form_token(step, self.who.wa_id, self.state.flow, self.now) if isinstance(step, f.Form) else None

    def _form(self, step: f.Form) -> SendForm:
        data = {k: render_text(v, self._names()) for k, v in step.data.items()}
        token = self.state.token or form_token(step, self.who.wa_id, self.state.flow, self.now)
        return SendForm(
            self._render(step.prompt),
            step.flow_json,
            step.flow_id,
            step.cta,
            token,
            step.screen,
            data,
            step.action,
            self._header(step.header),
            step.footer,
        )

    def _answer(self, step: f.Ask, message: Inbound, text: str) -> None:
        wanted = step.validator.kind
        if wanted in f.SENT_KINDS:  # a photo, a document or a location, not a typed answer
            sent = message.location if wanted == "location" else message.media
            if message.kind != wanted or sent is None:
                self._wrong(step, self.own(f"send_{wanted}"))
                return
            self._set(step.slot, dict(sent))
            self._go(step.next)
            return
        if message.kind != "text" or not text:
            self._wrong(step, None, not_text=True)
            return
        result = check(step.validator, text, now=self.now, zone=self.engine.zone, custom=self.engine.validators)
        if isinstance(result, Invalid):
            self._wrong(step, result.reason)
            return
        self._set(step.slot, result.value)
        self._go(step.next)

    def _located(self, step: f.RequestLocation, message: Inbound) -> None:
        """A shared place answers a location request; anything else asks again (a wrong try)."""
        if message.kind != "location" or message.location is None:
            self._wrong(step, None)
            return
        self._set(step.slot, dict(message.location))
        self._go(step.next)

    def _pick(self, step: f.Choose, message: Inbound, text: str) -> None:
        options = self._options(step)
        chosen = _match(options, message.reply_id, text, self._page_of(step, options))
        if chosen == MORE_ID:
            self.state = replace(self.state, page=self.state.page + 1)
            self.outputs.append(self._menu(step))
            return
        if chosen is None and message.reply_id is None and text:
            chosen = self._typed(step, options, text)
            if chosen is _WAIT:
                return
        option = next((o for o in options if o.id == chosen), None)
        if option is None:
            self._wrong(step, None)
            return
        if step.slot:
            self._set(step.slot, option.id)
        self._go(option.next or step.next)

    def _typed(self, step: f.Choose, options: tuple[f.Option, ...], text: str) -> Any:
        """A typed text no title matched: a sure guess's id, a jump to a global intent's flow, or "Did you mean"."""
        found = guess(options, text)
        if found is not None and found.sure:
            return found.option.id
        if step.commands and self._jump(intent(text)):
            return _WAIT
        if found is None:
            return None
        question = self.own("did_you_mean").format(title=found.option.title)
        self.outputs.append(Buttons(question, (f.Option(found.option.id, self.own("yes")),)))
        self.outputs.append(self._menu(step))
        return _WAIT

    def _jump(self, wanted: str | None) -> bool:
        """Go to the flow serving a global intent: through the main flow's call of it when it has one."""
        name = next((n for n, flow in self.engine.flows.items() if wanted and flow.intent == wanted), None)
        if name is None:
            return False
        main = self.engine.flows.get(self.engine.main)
        steps = main.steps.values() if main else ()
        call = next((s for s in steps if isinstance(s, f.Call) and s.flow == name), None)
        if main is None or call is None:
            self._start(name)
            return True
        self.state = replace(self.state, flow=main.name, step=None, stack=(), attempts=0, page=0, deadline=None)
        self._go(call.id)
        return True

    def _recently_verified(self, step: f.Verify) -> bool:
        """Whether the contact proved their number with a code less than `valid_for` ago."""
        if self.state.slots.get("verified") is not True:
            return False
        try:
            at = datetime.fromisoformat(str(self.state.slots.get("verified_at")))
        except ValueError:
            return False
        return at.tzinfo is not None and self.now - at < step.valid_for

    def _code(self, step: f.Verify, text: str) -> None:
        code = "".join(str(int(ch)) for ch in text if ch.isdecimal())  # any script's digits, as ASCII
        self.effect = CheckCode(step.purpose, code)

    def _code_sent(self, step: f.Verify, event: CodeSent) -> None:
        if not event.ok:
            self.outputs.append(Say(self.own("code_refused")))
            self._exit(step.on_failure, None)
            return
        self._prompt(step)

    def _code_checked(self, step: f.Verify, event: CodeChecked) -> None:
        if event.verified:
            self._set("verified", True)
            self._set("verified_at", self.now.isoformat())
            self._go(step.next)
            return
        attempts = self.state.attempts + 1
        if attempts >= step.max_attempts:
            self._set("verified", False)
            self._exit(step.on_failure, self.own("exhausted"))
            return
        self.state = replace(self.state, attempts=attempts)
        self.outputs.append(Say(self.own("wrong_code")))

    def _action_done(self, step: f.Act | f.Http, event: ActionDone) -> None:
        if event.error is not None:
            self._set("error", event.error)
            self._exit(step.on_error, self.own("apology"))
            return
        if step.result:
            self._set(step.result, event.value)
        self._go(step.next)

    # -- choices --------------------------------------------------------------------------------------

    def _options(self, step: f.Choose) -> tuple[f.Option, ...]:
        if step.options_from is None:
            return step.options
        found = self.state.slots.get(step.options_from)
        options = []
        for item in found if isinstance(found, list) else []:
            if isinstance(item, dict) and item.get("id") is not None and item.get("title"):
                options.append(
                    f.Option(str(item["id"]), str(item["title"])[: f.ROW_TITLE], _short(item.get("description")))
                )
        return (*options, *step.options)

    def _page_of(self, step: f.Choose, options: tuple[f.Option, ...]) -> tuple[f.Option, ...]:
        if len(options) <= f.MAX_LIST_ROWS:
            return options
        per_page = f.MAX_LIST_ROWS - 1
        pages = -(-len(options) // per_page)
        start = (self.state.page % pages) * per_page
        page = options[start : start + per_page]
        return (*page, f.Option(MORE_ID, self.own("more")))

    def _menu(self, step: f.Choose) -> Output:
        text = self._render(step.prompt) or self.own("choose")
        options = self._options(step)
        if not options:
            raise _FlowBroken(f"step {step.id!r} has no options to offer")
        titles = [o.title for o in options]
        header, footer = self._header(step.header), step.footer
        if (
            len(options) <= f.MAX_BUTTONS
            and len(set(titles)) == len(titles)
            and max(map(len, titles)) <= f.BUTTON_TITLE
        ):
            return Buttons(text, options, header, footer)
        # Options from data that do not fit reply buttons (long or repeated titles) go in a list instead,
        # which can carry a text header only.
        shown = header if isinstance(header, str) else None
        return ListMenu(text, step.button, self._page_of(step, options), shown, footer)

    def _link(self, step: f.Link) -> LinkButton:
        url = render_text(step.url, self._names()).strip()
        if not url.startswith("https://") or any(ch.isspace() for ch in url):
            raise _FlowBroken(f"step {step.id!r}: the link button's URL is not an https:// address")
        return LinkButton(self._render(step.text), step.button, url, self._header(step.header), step.footer)

    def _header(self, header: f.Header | None) -> Header | None:
        """A header filled in: a text (cut to WhatsApp's 60 characters), or a file checked as Meta would."""
        if header is None:
            return None
        names = self._names()
        if header.media is None:
            return render_text(header.text or "", names).strip()[: f.HEADER_TEXT] or None
        filled = {"link": render_text(header.source or "", names)}
        if header.filename:
            filled["filename"] = render_text(header.filename, names)
        try:
            return HeaderMedia.read(header.media, filled)
        except ValidationError as exc:
            raise _FlowBroken(str(exc)) from None

    # -- values ---------------------------------------------------------------------------------------

    def _branch(self, step: f.Branch) -> str | None:
        names = self._names()
        for case in step.cases:
            try:
                if compile_expression(case.when).evaluate(names):
                    return case.goto
            except ValidationError as exc:
                raise _FlowBroken(str(exc)) from None
        if step.otherwise is None:
            raise _FlowBroken(f"branch {step.id!r} matched no case and has no otherwise")
        return step.otherwise

    def _names(self) -> dict[str, Any]:
        return {**self.state.slots, "contact": self.who.as_slot()}

    def _set(self, slot: str, value: Any) -> None:
        self.state = replace(self.state, slots={**self.state.slots, slot: value})

    def _render(self, text: f.Text) -> str:
        source = text.inline_for(self.who.language)
        return render_text(source, self._names()) if source else ""

    def _send(self, media: f.Media) -> None:
        link = render_text(media.link, self._names()).strip() if media.link else None
        if media.link and not (link or "").startswith(("https://", "http://")):
            raise _FlowBroken(f"the {media.kind} link {media.link!r} rendered no http(s) URL")
        caption = self._render(media.caption) if media.caption is not None else None
        self.outputs.append(SendMedia(media.kind, media.file, link, caption or None, media.filename))

    def _say(self, text: f.Text) -> None:
        if text.template is not None:
            values = {k: render_text(v, self._names()) for k, v in text.values.items()}
            self.outputs.append(SendTemplate(text.template, values))
        elif text.inline_for(self.who.language):
            self.outputs.append(Say(self._render(text)))


_WAIT = object()


def _match(options: tuple[f.Option, ...], reply_id: str | None, text: str, shown: tuple[f.Option, ...]) -> str | None:
    """The chosen id: a tapped button or row, a typed title or synonym, or the number of an option as shown."""
    if reply_id is not None:
        return reply_id if any(o.id == reply_id for o in (*options, *shown)) else None
    wanted = text.casefold().rstrip(".")
    for option in (*shown, *options):
        if option.title.casefold() == wanted or option.id.casefold() == wanted.lstrip("#"):
            return option.id
    typed = exact((*shown, *options), text)  # a title, id or synonym, folded
    if typed is not None:
        return typed.id
    if wanted.isdecimal() and len(wanted) <= 6 and 1 <= int(wanted) <= len(shown):
        return shown[int(wanted) - 1].id
    return None


def _short(value: Any) -> str | None:
    return str(value)[: f.ROW_DESCRIPTION] if value else None
