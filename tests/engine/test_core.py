"""The flow engine's pure core: steps, bounded retries, commands, calls, effects, timeouts, changed files."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import flow as f
from bot.engine.answer import NOT_NUMBER
from bot.engine.core import (
    APOLOGY,
    CANCELLED,
    CHANGED,
    CODE_REFUSED,
    EXHAUSTED,
    HANDED_OFF,
    HELP,
    TIMED_OUT,
    WRONG_CODE,
    Engine,
)
from bot.engine.state import (
    ActionDone,
    Buttons,
    CallEndpoint,
    CheckCode,
    CodeChecked,
    CodeSent,
    Enter,
    FormAnswer,
    Frame,
    Inbound,
    LinkButton,
    ListMenu,
    LocationRequest,
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
from bot.whatsapp.rendered_template import HeaderMedia

NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
WHO = Who("31612345678", "Aisha", "en")


def text(value: str) -> f.Text:
    return f.Text(inline=value)


def flow(name: str, *steps: f.AnyStep, start: str | None = None, **kw: Any) -> f.Flow:
    return f.Flow(name, start or steps[0].id, {s.id: s for s in steps}, version=kw.pop("version", "v1"), **kw)


MAIN = flow(
    "main",
    f.Say("hello", next="menu", text=text("Hi {{ contact.name }}!")),
    f.Choose(
        "menu",
        prompt=text("What can I do?"),
        options=(f.Option("order", "My order", next="order"), f.Option("person", "A person", next="agent")),
        reprompt=text("Please pick one."),
        max_attempts=2,
        on_exhausted="agent",
        timeout=timedelta(minutes=5),
        on_timeout="late",
    ),
    f.Call("order", flow="orders", next="thanks"),
    f.Handoff("agent", text=text("A person will reply.")),
    f.End("late", text=text("Closing this chat.")),
    f.End("thanks", text=text("Anything else? Type menu.")),
)
ORDERS = flow(
    "orders",
    f.Ask(
        "number",
        prompt=text("Your order number?"),
        slot="order_number",
        validator=f.Validator("pattern", pattern="[0-9]{4,8}"),
        reprompt=text("4 to 8 digits, please."),
        max_attempts=3,
        on_exhausted="give_up",
        next="lookup",
    ),
    f.Act(
        "lookup",
        action="orders.lookup",
        args={"number": "{{ order_number }}"},
        result="order",
        on_error="oops",
        next="route",
    ),
    f.Branch(
        "route",
        cases=(f.Case("order is none", "unknown"), f.Case('order.status == "shipped"', "shipped")),
        otherwise="other",
    ),
    f.Say("unknown", text=text("No order {{ order_number }}.")),
    f.Say("shipped", text=text("Order {{ order.number }} is on its way.")),
    f.Say("other", text=text("Order {{ order.number }} is {{ order.status }}.")),
    f.Say("oops", text=text("Lookup failed: {{ error }}.")),
    f.End("give_up", text=text("Let's stop here.")),
)
ENGINE = Engine({"main": MAIN, "orders": ORDERS})


def says(turn: Turn) -> list[str]:
    return [o.text for o in turn.outputs if isinstance(o, Say | Buttons | ListMenu)]


def send(state: State, message: str, engine: Engine = ENGINE, now: datetime = NOW) -> Turn:
    return engine.handle(state, Inbound("text", message), WHO, now)


def tap(state: State, reply_id: str) -> Turn:
    return ENGINE.handle(state, Inbound("interactive", None, reply_id), WHO, NOW)


def test_a_first_message_greets_by_name_and_offers_the_menu_as_buttons() -> None:
    """Any first message starts the main flow: the greeting, then up to three options as buttons."""
    turn = send(State(), "hello")
    assert says(turn) == ["Hi Aisha!", "What can I do?"]
    menu = turn.outputs[1]
    assert isinstance(menu, Buttons)
    assert [o.title for o in menu.options] == ["My order", "A person"]
    assert (turn.state.flow, turn.state.step) == ("main", "menu")
    assert turn.state.expires_at == NOW + f.DEFAULT_IDLE


def test_a_choice_routes_by_tap_by_title_or_by_number() -> None:
    """Tapping the button, typing its title or typing its number all pick the same option."""
    state = send(State(), "hi").state
    for answer in (tap(state, "order"), send(state, "my ORDER"), send(state, "1")):
        assert says(answer) == ["Your order number?"]
        assert (answer.state.flow, answer.state.step) == ("orders", "number")


def test_a_wrong_answer_reprompts_once_per_try_then_takes_the_exit() -> None:
    """An invalid answer gets the distinct re-prompt (not the question twice); the last try leaves by on_exhausted."""
    state = tap(send(State(), "hi").state, "order").state
    first = send(state, "abc")
    assert says(first) == ["4 to 8 digits, please."]
    second = send(first.state, "12")
    assert says(second) == ["4 to 8 digits, please."]
    third = send(second.state, "nope")
    assert says(third) == ["Let's stop here."]
    assert third.state.flow is None


def test_a_valid_answer_fills_the_slot_and_asks_for_the_action() -> None:
    """The answer lands in its slot and the act step asks the runner to run the action with rendered args."""
    state = tap(send(State(), "hi").state, "order").state
    turn = send(state, "10482")
    assert turn.state.slots["order_number"] == "10482"
    assert turn.effect == RunAction("orders.lookup", {"number": "10482"}, timedelta(seconds=5))
    assert turn.state.step == "lookup"


def test_an_action_result_branches_and_the_call_returns() -> None:
    """The result goes to its slot, the branch picks the case, and the called flow returns to its caller."""
    state = send(tap(send(State(), "hi").state, "order").state, "10482").state
    shipped = ENGINE.handle(state, ActionDone({"number": "10482", "status": "shipped"}), WHO, NOW)
    assert says(shipped) == ["Order 10482 is on its way.", "Anything else? Type menu."]
    assert shipped.state.flow is None
    missing = ENGINE.handle(state, ActionDone(None), WHO, NOW)
    assert says(missing)[0] == "No order 10482."


def test_an_action_error_takes_its_error_exit() -> None:
    """A failed or timed-out action goes to on_error with the reason in `error`."""
    state = send(tap(send(State(), "hi").state, "order").state, "10482").state
    turn = ENGINE.handle(state, ActionDone(error="timeout"), WHO, NOW)
    assert says(turn)[0] == "Lookup failed: timeout."


def test_an_http_step_describes_the_call_and_keeps_the_answer_or_the_error() -> None:
    """The engine renders query and body into a `CallEndpoint` effect; the answer fills `result`, a failure exits."""
    engine = Engine(
        {
            "main": flow(
                "main",
                f.Ask("number", prompt=text("Number?"), slot="number", next="fetch"),
                f.Http(
                    "fetch",
                    endpoint="shop_order",
                    query={"number": "{{ number }}"},
                    body={"who": "{{ contact.name }}"},
                    result="order",
                    on_error="failed",
                    next="show",
                ),
                f.End("show", text=text("Order {{ order.number }}: {{ order.status }}.")),
                f.End("failed", text=text("Sorry ({{ error }}).")),
            )
        }
    )
    asked = engine.handle(engine.handle(State(), Inbound("text", "hi"), WHO, NOW).state, Inbound("text", "7"), WHO, NOW)
    assert asked.effect == CallEndpoint("shop_order", {"number": "7"}, {"who": "Aisha"}, None)
    answered = engine.handle(asked.state, ActionDone({"number": "7", "status": "shipped"}), WHO, NOW)
    assert says(answered) == ["Order 7: shipped."]
    assert says(engine.handle(asked.state, ActionDone(error="status 500"), WHO, NOW)) == ["Sorry (status 500)."]


def test_global_commands_work_at_a_waiting_step() -> None:
    """menu restarts, cancel ends, help explains and asks again, agent hands off; a person's chat is silent."""
    state = tap(send(State(), "hi").state, "order").state
    assert says(send(state, "menu")) == ["Hi Aisha!", "What can I do?"]
    cancelled = send(state, "Cancel")
    assert (says(cancelled), cancelled.state.flow) == ([CANCELLED], None)
    assert says(send(state, "help")) == [HELP, "Your order number?"]
    handed = send(state, "agent")
    assert says(handed) == [HANDED_OFF]
    assert handed.state.handed_off
    assert send(handed.state, "hello?").outputs == ()
    released = ENGINE.handle(handed.state, Released(), WHO, NOW)
    assert not released.state.handed_off
    assert says(send(released.state, "hi")) == ["Hi Aisha!", "What can I do?"]


def test_commands_can_be_turned_off_for_a_step() -> None:
    """With `commands: false` the word "cancel" is an answer like any other."""
    ask = f.Ask("q", prompt=text("Say a word"), slot="word", commands=False, next="done")
    engine = Engine({"main": flow("main", ask, f.End("done", text=text("You said {{ word }}.")))})
    state = send(State(), "hi", engine).state
    assert says(send(state, "cancel", engine)) == ["You said cancel."]


def test_a_step_timeout_takes_its_exit_and_idle_expiry_ends_politely() -> None:
    """Past the step's deadline the timeout exit runs; past the idle expiry the session ends politely."""
    state = send(State(), "hi").state
    assert state.deadline == NOW + timedelta(minutes=5)
    early = ENGINE.handle(state, TimedOut(), WHO, NOW + timedelta(minutes=4))
    assert early.outputs == ()
    late = ENGINE.handle(state, TimedOut(), WHO, NOW + timedelta(minutes=5))
    assert says(late) == ["Closing this chat."]
    asking = tap(state, "order").state
    idle = ENGINE.handle(asking, TimedOut(), WHO, NOW + f.DEFAULT_IDLE)
    assert (says(idle), idle.state.flow) == ([TIMED_OUT], None)


def test_exhausting_a_choice_leaves_by_its_exit() -> None:
    """Two unknown answers at a two-try menu hand the customer to a person, never re-prompting forever."""
    state = send(State(), "hi").state
    first = send(state, "pizza")
    assert says(first) == ["Please pick one.", "What can I do?"]
    assert says(send(first.state, "pasta")) == ["A person will reply."]


def test_a_changed_flow_file_never_crashes_a_live_session() -> None:
    """A session whose step vanished from the file starts over politely."""
    state = tap(send(State(), "hi").state, "order").state
    changed = Engine({"main": MAIN, "orders": flow("orders", f.End("bye", text=text("Bye")), version="v2")})
    turn = send(state, "10482", changed)
    assert says(turn) == [CHANGED, "Hi Aisha!", "What can I do?"]


def test_a_broken_branch_apologises_instead_of_raising() -> None:
    """A branch that matches nothing and has no otherwise ends the flow with an apology."""
    branch = f.Branch("b", cases=(f.Case("x == 1", "b"),))
    engine = Engine({"main": flow("main", branch)})
    assert says(send(State(), "hi", engine)) == [APOLOGY]


def test_loops_without_waiting_are_stopped() -> None:
    """A goto cycle that never waits for the customer ends with an apology rather than spinning."""
    engine = Engine({"main": flow("main", f.Goto("a", goto="b"), f.Goto("b", goto="a"))})
    turn = send(State(), "hi", engine)
    assert (says(turn), turn.state.flow) == ([APOLOGY], None)


def test_more_than_ten_options_become_a_paged_list() -> None:
    """Twelve options show nine rows and "More options"; the next page continues; a number picks from the page."""
    options = tuple(f.Option(f"o{n}", f"Option {n}") for n in range(1, 13))
    choose = f.Choose("pick", prompt=text("Pick"), options=options, slot="picked", next="done")
    engine = Engine({"main": flow("main", choose, f.End("done", text=text("Got {{ picked }}")))})
    first = send(State(), "hi", engine)
    [menu] = first.outputs
    assert isinstance(menu, ListMenu)
    assert [o.id for o in menu.options][-2:] == ["o9", "__more"]
    second = engine.handle(first.state, Inbound("interactive", None, "__more"), WHO, NOW)
    [page] = second.outputs
    assert isinstance(page, ListMenu)
    assert page.options[0].id == "o10"
    assert says(send(second.state, "2", engine)) == ["Got o11"]


def test_verify_sends_a_code_checks_it_and_bounds_wrong_tries() -> None:
    """The verify step asks for a code, re-asks after a wrong one, and fails out after too many."""
    verify = f.Verify("v", purpose="login", prompt=text("Type the code."), max_attempts=2, on_failure="no", next="yes")
    engine = Engine({"main": flow("main", verify, f.End("yes", text=text("Verified.")), f.End("no", text=text("No.")))})
    start = send(State(), "hi", engine)
    assert start.effect == SendCode("login")
    sent = engine.handle(start.state, CodeSent(True), WHO, NOW)
    assert says(sent) == ["Type the code."]
    typed = send(sent.state, "12 34 56", engine)
    assert typed.effect == CheckCode("login", "123456")
    assert send(sent.state, "\u0661\u0662\u0663 \u0664\u0665\u0666", engine).effect == CheckCode("login", "123456")
    assert send(sent.state, "\u00b9 123456", engine).effect == CheckCode("login", "123456")  # a superscript is no digit
    wrong = engine.handle(typed.state, CodeChecked(False), WHO, NOW)
    assert says(wrong) == [WRONG_CODE]
    again = engine.handle(send(wrong.state, "000000", engine).state, CodeChecked(False), WHO, NOW)
    assert says(again) == ["No."]
    right = engine.handle(typed.state, CodeChecked(True), WHO, NOW)
    assert says(right) == ["Verified."]
    assert right.state.slots["verified"] is True
    recently = send(State(slots=right.state.slots), "hi again", engine, NOW + timedelta(minutes=5))
    assert (recently.effect, says(recently)) == (None, ["Verified."])
    later = send(State(slots=right.state.slots), "hi again", engine, NOW + timedelta(minutes=16))
    assert later.effect == SendCode("login")


def test_media_and_reactions_get_a_sensible_answer() -> None:
    """A picture at a question is a wrong try with a hint; a reaction asks nothing and gets nothing."""
    state = tap(send(State(), "hi").state, "order").state
    picture = ENGINE.handle(state, Inbound("image"), WHO, NOW)
    assert says(picture)[0] == "I can only read text messages here."
    assert ENGINE.handle(state, Inbound("reaction"), WHO, NOW).outputs == ()


def test_state_survives_its_row() -> None:
    """A state written to the session row and read back is the same state; a damaged row is a fresh one."""
    state = State("orders", "number", {"a": 1}, attempts=2, page=1, version="v1", deadline=NOW, handed_off=False)
    assert State.from_row(state.to_row()) == state
    assert State.from_row({"state": "garbage", "slots": [1]}) == State()


def test_a_campaign_tap_enters_its_flow_with_the_campaign_in_the_slots() -> None:
    """Enter starts the named flow from its first step, keeping the campaign; a flow that is gone means the menu."""
    turn = ENGINE.handle(State("main", "menu"), Enter("orders", {"campaign": 7}), WHO, NOW)
    assert (turn.state.flow, turn.state.step, turn.state.slots["campaign"]) == ("orders", "number", 7)
    assert says(turn) == ["Your order number?"]
    gone = ENGINE.handle(State(), Enter("deleted", {"campaign": 7}), WHO, NOW)
    assert gone.state.flow == "main"
    handed = ENGINE.handle(State(handed_off=True), Enter("orders"), WHO, NOW)
    assert (handed.state.flow, handed.outputs) == (None, ())


EVENTS = st.one_of(
    st.builds(Inbound, st.sampled_from(["text", "interactive", "image", "reaction", "location"]),
              st.text(max_size=30) | st.sampled_from(["menu", "cancel", "help", "agent", "1", "2", "10482"]),
              st.none() | st.sampled_from(["order", "person", "__more", "x"])),
    st.builds(ActionDone, st.none() | st.fixed_dictionaries({"number": st.just("1"), "status": st.text(max_size=8)}),
              st.none() | st.just("boom")),
    st.just(TimedOut()), st.just(Released()), st.builds(CodeSent, st.booleans()), st.builds(CodeChecked, st.booleans()),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(EVENTS, st.integers(0, 4000)), max_size=25))
def test_any_sequence_of_events_never_raises_and_only_says_defined_things(events: list[tuple[Any, int]]) -> None:
    """Whatever arrives, in whatever order, the engine answers with its flows' texts or its own, never an exception."""
    known = {
        "Hi Aisha!", "What can I do?", "Please pick one.", "Your order number?", "4 to 8 digits, please.",
        "Let's stop here.", "A person will reply.", "Closing this chat.", "Anything else? Type menu.",
        "Lookup failed: boom.", CANCELLED, HELP, HANDED_OFF, APOLOGY, EXHAUSTED, TIMED_OUT, CHANGED, WRONG_CODE,
        "I can only read text messages here.",
    }  # fmt: skip
    state, now = State(), NOW
    for event, seconds in events:
        now += timedelta(seconds=seconds)
        turn = ENGINE.handle(state, event, WHO, now)
        for said in says(turn):
            assert said in known or said.startswith(("No order", "Order ")), said
        state = turn.state


# --- what each transition leaves in the state -------------------------------------------------------------

DEEP = State(
    "orders",
    "number",
    {"order_number": "1"},
    stack=(Frame("main", "thanks"),),
    attempts=1,
    page=2,
    version="v1",
    deadline=NOW + timedelta(minutes=1),
)


def test_cancel_clears_the_flow_and_keeps_the_slots() -> None:
    """Ending a flow leaves no step, call stack, tries, page or deadline behind; the slots stay for next time."""
    turn = send(DEEP, "cancel")
    assert turn.state == State(slots={"order_number": "1"}, version="v1")


def test_a_handoff_clears_the_flow_and_marks_the_chat_as_a_persons() -> None:
    """`agent` mid-flow: no step, call stack, tries or deadline, and the chat is a person's until released."""
    state = send(DEEP, "agent").state
    assert (state.flow, state.step, state.stack, state.attempts, state.deadline) == (None, None, (), 0, None)
    assert state.handed_off is True
    assert state.slots == {"order_number": "1"}


def test_a_release_mid_flow_ends_the_flow() -> None:
    """A person's release ends whatever flow was left, with its call stack and tries, and hands the chat back."""
    state = ENGINE.handle(replace(DEEP, handed_off=True), Released(), WHO, NOW).state
    assert (state.flow, state.step, state.stack, state.attempts) == (None, None, (), 0)
    assert state.handed_off is False
    assert state.slots == {"order_number": "1"}


def test_menu_inside_a_called_flow_forgets_the_caller() -> None:
    """`menu` in a called flow starts the main flow afresh: finishing it later returns to no one."""
    state = send(DEEP, "menu").state
    assert (state.flow, state.step, state.stack, state.attempts, state.page) == ("main", "menu", (), 0, 0)


def test_entering_a_step_resets_its_tries_and_page_and_records_the_version() -> None:
    """A step is entered with no wrong tries and the first page, under the version of the flow it belongs to."""
    state = tap(send(State(), "hi").state, "order").state
    assert (state.flow, state.step, state.version, state.attempts) == ("orders", "number", "v1", 0)
    wrong = send(state, "abc").state
    assert wrong.attempts == 1
    right = send(wrong, "10482").state
    assert (right.step, right.attempts, right.page) == ("lookup", 0, 0)


def test_the_session_expires_after_the_flows_own_idle_time() -> None:
    """A flow with its own idle timeout sets the session's expiry by it, not by the default."""
    quick = flow("main", f.Ask("q", prompt=text("Name?"), slot="name"), idle_timeout=timedelta(minutes=2))
    assert send(State(), "hi", Engine({"main": quick})).state.expires_at == NOW + timedelta(minutes=2)


def test_a_reaction_in_a_session_whose_flow_is_gone_changes_nothing() -> None:
    """A reaction asks nothing, even when the session's flow file was deleted; the expiry is the default one."""
    gone = State("deleted", "somewhere", {"a": 1})
    turn = ENGINE.handle(gone, Inbound("reaction"), WHO, NOW)
    assert turn.outputs == ()
    assert turn.state == replace(gone, expires_at=NOW + f.DEFAULT_IDLE)


def test_a_session_whose_flow_file_is_gone_starts_over_keeping_its_slots() -> None:
    """A message to a session whose whole flow was deleted says so and shows the menu; the slots stay."""
    turn = send(State("deleted", "somewhere", {"a": 1}), "hi")
    assert says(turn) == [CHANGED, "Hi Aisha!", "What can I do?"]
    assert turn.state.slots == {"a": 1}


def test_a_changed_step_keeps_the_slots() -> None:
    """Starting over after a vanished step keeps what the customer already told us."""
    state = replace(tap(send(State(), "hi").state, "order").state, slots={"a": 1})
    changed = Engine({"main": MAIN, "orders": flow("orders", f.End("bye", text=text("Bye")), version="v2")})
    assert send(state, "x", changed).state.slots == {"a": 1}


# --- the idle expiry and the step timeout -------------------------------------------------------------------


def test_a_message_at_the_idle_expiry_starts_over() -> None:
    """At the very instant the session expires a message starts the main flow again instead of answering the step."""
    state = tap(send(State(), "hi").state, "order").state
    assert state.expires_at is not None
    assert says(send(state, "10482", now=state.expires_at)) == ["Hi Aisha!", "What can I do?"]


def test_a_picture_after_the_idle_expiry_gets_the_text_only_note() -> None:
    """An expired session starts over; a picture as its first message is told only text is read."""
    state = tap(send(State(), "hi").state, "order").state
    assert state.expires_at is not None
    turn = ENGINE.handle(state, Inbound("image"), WHO, state.expires_at)
    assert says(turn) == ["I can only read text messages here.", "Hi Aisha!", "What can I do?"]


def test_an_answer_even_a_wrong_one_restarts_the_step_timeout() -> None:
    """The customer answered: the step still waiting gets its full timeout again from now."""
    state = send(State(), "hi").state
    later = NOW + timedelta(minutes=4)
    wrong = send(state, "pizza", now=later)
    assert (wrong.state.step, wrong.state.deadline) == ("menu", later + timedelta(minutes=5))


def test_a_step_timeout_without_an_exit_ends_saying_so() -> None:
    """Past a step's deadline with no `on_timeout` the flow ends with the engine's timed-out message."""
    ask = f.Ask("q", prompt=text("Name?"), slot="name", timeout=timedelta(minutes=1))
    engine = Engine({"main": flow("main", ask)})
    state = send(State(), "hi", engine).state
    late = engine.handle(state, TimedOut(), WHO, NOW + timedelta(minutes=1))
    assert (says(late), late.state.flow) == ([TIMED_OUT], None)


# --- first messages and commands outside a flow -----------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "note"),
    [
        pytest.param(Inbound("image"), True, id="picture"),
        pytest.param(Inbound("location"), True, id="location"),
        pytest.param(Inbound("text", "hi"), False, id="text"),
        pytest.param(Inbound("button", "Yes please"), False, id="template-button"),
        pytest.param(Inbound("interactive", None, "old"), False, id="interactive"),
    ],
)
def test_a_first_message_that_is_not_text_gets_a_note_before_the_menu(message: Inbound, note: bool) -> None:
    """Outside a flow anything starts the menu; a message that is not text, a button or a tap is noted first."""
    turn = ENGINE.handle(State(), message, WHO, NOW)
    assert says(turn) == ["I can only read text messages here."] * note + ["Hi Aisha!", "What can I do?"]


def test_cancel_outside_a_flow_shows_the_menu() -> None:
    """With nothing to cancel, `cancel` shows the menu like `menu` does."""
    assert says(send(State(), "cancel")) == ["Hi Aisha!", "What can I do?"]


def test_help_while_an_action_runs_explains_without_asking_again() -> None:
    """`help` while the bot waits on an action explains the commands; there is no question to repeat."""
    state = send(tap(send(State(), "hi").state, "order").state, "10482").state
    assert state.step == "lookup"
    assert says(send(state, "help")) == [HELP]


def test_a_contact_reads_the_flows_and_the_engine_in_their_own_language() -> None:
    """Texts by language pick the contact's (or English); the engine's own words and commands follow the contact."""
    greet = f.Say("greet", text=f.Text(languages={"en": "Hi!", "pt_BR": "Olá, {{ contact.name }}!"}), next="ask")
    ask = f.Ask("ask", prompt=text("Your order number?"), slot="order_number")
    engine = Engine({"main": flow("main", greet, ask)})
    brazilian, german = Who("5511987654321", "Ana", "pt_BR"), Who("4915112345678", "Jonas", "de")
    turn = engine.handle(State(), Inbound("text", "oi"), brazilian, NOW)
    assert says(turn) == ["Olá, Ana!", "Your order number?"]
    assert says(engine.handle(State(), Inbound("text", "hallo"), german, NOW))[0] == "Hi!"  # no German: English
    helped = engine.handle(turn.state, Inbound("text", "HILFE"), german, NOW)
    assert says(helped)[0].startswith("Ich helfe bei Bestellungen")
    cancelled = engine.handle(turn.state, Inbound("text", "Cancelar!"), brazilian, NOW)
    assert says(cancelled) == ["Certo, parei por aqui. Escreva qualquer coisa para ver o menu de novo."]
    assert cancelled.state.flow is None


def test_a_message_while_an_action_runs_goes_back_to_the_menu() -> None:
    """A customer who writes while an action runs (or at a step that waits for nothing) is shown the menu."""
    state = send(tap(send(State(), "hi").state, "order").state, "10482").state
    assert says(send(state, "hello?")) == ["Hi Aisha!", "What can I do?"]


# --- asking -----------------------------------------------------------------------------------------------


def test_without_a_reprompt_a_wrong_answer_gets_the_reason_and_the_question() -> None:
    """An invalid answer at a step with no re-prompt is told why, then asked the question again."""
    ask = f.Ask("q", prompt=text("How many?"), slot="n", validator=f.Validator("number"), next="done")
    engine = Engine({"main": flow("main", ask, f.End("done", text=text("{{ n }} it is.")))})
    state = send(State(), "hi", engine).state
    assert says(send(state, "lots", engine)) == [NOT_NUMBER, "How many?"]


def test_exhausting_a_step_without_an_exit_ends_politely() -> None:
    """The last wrong try at a step with no `on_exhausted` ends the flow with the engine's message."""
    ask = f.Ask("q", prompt=text("How many?"), slot="n", validator=f.Validator("number"), max_attempts=1)
    engine = Engine({"main": flow("main", ask)})
    turn = send(send(State(), "hi", engine).state, "lots", engine)
    assert (says(turn), turn.state.flow) == ([EXHAUSTED], None)


def test_a_template_button_is_not_a_typed_answer() -> None:
    """A template's quick-reply button pressed at a question is not taken as the typed answer."""
    state = tap(send(State(), "hi").state, "order").state
    turn = ENGINE.handle(state, Inbound("button", "10482"), WHO, NOW)
    assert says(turn) == ["I can only read text messages here.", "4 to 8 digits, please."]
    assert "order_number" not in turn.state.slots


def test_answers_are_read_in_the_business_zone_with_its_own_validators() -> None:
    """Dates are read in the engine's time zone, and a `custom` validator is the engine's named function."""
    steps = (
        f.Ask("day", prompt=text("When?"), slot="day", validator=f.Validator("date"), next="word"),
        f.Ask("word", prompt=text("Word?"), slot="word", validator=f.Validator("custom", name="shout"), next="end"),
        f.End("end", text=text("{{ day }} {{ word }}")),
    )
    engine = Engine(
        {"main": flow("main", *steps)}, zone=ZoneInfo("Pacific/Kiritimati"), validators={"shout": str.upper}
    )
    state = send(send(State(), "hi", engine).state, "today", engine).state  # 02:00 on the 11th in Kiritimati
    assert says(send(state, "hey", engine)) == ["2026-04-11 HEY"]


# --- choosing ---------------------------------------------------------------------------------------------

CHOICES = Engine(
    {
        "main": flow(
            "main",
            f.Choose(
                "pick",
                options=(f.Option("red", "Red"), f.Option("blue", "Blue")),
                slot="colour",
                next="done",
            ),
            f.End("done", text=text("{{ colour }}")),
        )
    }
)


@pytest.mark.parametrize("typed", ["Blue.", "#blue", "2", "BLUE"])
def test_an_option_is_picked_by_title_id_or_number_as_typed(typed: str) -> None:
    """A title with a full stop, the id after `#`, the last number shown, any case: each picks the option."""
    state = send(State(), "hi", CHOICES).state
    assert says(send(state, typed, CHOICES)) == ["blue"]


@pytest.mark.parametrize("typed", ["\u0662", "\uff12", "\u09e8"])
def test_a_number_in_another_scripts_digits_picks_the_option(typed: str) -> None:
    """Arabic-Indic, full-width and Bengali 2 pick the second option, as "2" does."""
    state = send(State(), "hi", CHOICES).state
    assert says(send(state, typed, CHOICES)) == ["blue"]


@pytest.mark.parametrize("typed", ["\u00b9", "\u00b2", "\u2460", "2" * 5000, "0", "3"])
def test_a_digit_that_is_no_number_of_the_menu_is_a_wrong_try(typed: str) -> None:
    """A superscript or circled digit (digits Python's int() refuses), 5,000 digits, 0 or past the last option:
    a wrong try, asked again, never a failed turn (the fuzzer's customer typed "¹")."""
    state = send(State(), "hi", CHOICES).state
    turn = send(state, typed, CHOICES)
    assert (turn.state.attempts, says(turn)) == (1, ["Please choose:"])


def test_a_tap_on_no_option_or_on_more_of_a_short_menu_is_a_wrong_try() -> None:
    """A tapped id the menu does not offer, "More options" of a menu that has no more, count as wrong tries."""
    state = send(State(), "hi", CHOICES).state
    for reply in ("green", "__more"):
        turn = CHOICES.handle(state, Inbound("interactive", None, reply), WHO, NOW)
        assert (turn.state.attempts, says(turn)) == (1, ["Please choose:"])


def test_a_menu_of_one_option_takes_a_tap() -> None:
    """A single option tapped is chosen."""
    engine = Engine({"main": flow("main", f.Choose("pick", options=(f.Option("ok", "OK"),), next="done"),
                                  f.End("done", text=text("Done.")))})  # fmt: skip
    state = send(State(), "hi", engine).state
    assert says(engine.handle(state, Inbound("interactive", None, "ok"), WHO, NOW)) == ["Done."]


@pytest.mark.parametrize("prompt", [f.Text(), text("")])
def test_a_menu_with_no_prompt_says_please_choose(prompt: f.Text) -> None:
    """A choice without a question of its own is introduced as "Please choose:"."""
    engine = Engine({"main": flow("main", f.Choose("pick", prompt=prompt, options=(f.Option("a", "A"),)))})
    [menu] = send(State(), "hi", engine).outputs
    assert menu == Buttons("Please choose:", (f.Option("a", "A"),))


def test_three_options_with_titles_of_twenty_characters_are_buttons() -> None:
    """Up to three options, none titled longer than a button allows, are reply buttons."""
    options = (f.Option("a", "A" * f.BUTTON_TITLE), f.Option("b", "B"), f.Option("c", "C"))
    engine = Engine({"main": flow("main", f.Choose("pick", prompt=text("Pick"), options=options))})
    assert send(State(), "hi", engine).outputs == (Buttons("Pick", options),)


def test_ten_options_are_one_list_and_eleven_are_pages() -> None:
    """Ten options fit one list message; eleven show nine and a "More options" row, behind the step's button."""
    for count, rows in ((10, [f"o{n}" for n in range(1, 11)]), (11, [*(f"o{n}" for n in range(1, 10)), "__more"])):
        options = tuple(f.Option(f"o{n}", f"Option {n}") for n in range(1, count + 1))
        choose = f.Choose("pick", prompt=text("Pick"), options=options, button="See all")
        [menu] = send(State(), "hi", Engine({"main": flow("main", choose)})).outputs
        assert isinstance(menu, ListMenu)
        assert (menu.text, menu.button, [o.id for o in menu.options]) == ("Pick", "See all", rows)
        assert menu.options[-1] == (f.Option("__more", "More options") if count > 10 else options[-1])


def test_more_options_turns_the_page_forwards() -> None:
    """Twenty options are three pages; each tap on "More options" shows the next one, then the first again."""
    options = tuple(f.Option(f"o{n}", f"Option {n}") for n in range(1, 21))
    engine = Engine({"main": flow("main", f.Choose("pick", prompt=text("Pick"), options=options))})
    state = send(State(), "hi", engine).state
    firsts = []
    for page in (1, 2, 3):
        turn = engine.handle(state, Inbound("interactive", None, "__more"), WHO, NOW)
        state = turn.state
        [menu] = turn.outputs
        assert isinstance(menu, ListMenu)
        assert state.page == page
        firsts.append(menu.options[0].id)
    assert firsts == ["o10", "o19", "o1"]


def test_picking_from_a_later_page_enters_the_next_step_on_its_first_page() -> None:
    """After paging, a pick moves on and the next step starts on its own first page."""
    options = tuple(f.Option(f"o{n}", f"Option {n}") for n in range(1, 13))
    choose = f.Choose("pick", prompt=text("Pick"), options=options, slot="picked", next="again")
    again = f.Choose("again", prompt=text("Again"), options=options)
    engine = Engine({"main": flow("main", choose, again)})
    paged = engine.handle(send(State(), "hi", engine).state, Inbound("interactive", None, "__more"), WHO, NOW).state
    state = send(paged, "2", engine).state
    assert (state.step, state.page, state.slots["picked"]) == ("again", 0, "o11")


def test_options_from_data_come_first_cut_to_fit_and_skip_what_cannot_be_shown() -> None:
    """Rows from a slot list come before the step's own options; long titles and descriptions are cut; bad rows go."""
    rows = [
        {"id": 7, "title": "T" * 30, "description": "D" * 80},
        {"id": "b", "title": "Plain"},
        {"id": None, "title": "No id"},
        {"id": "c", "title": ""},
        "not a row",
    ]
    choose = f.Choose("pick", prompt=text("Pick"), options_from="rows", options=(f.Option("none", "None of these"),))
    engine = Engine({"main": flow("main", choose)})
    [menu] = send(State(slots={"rows": rows}), "hi", engine).outputs
    assert isinstance(menu, ListMenu)
    assert menu.options == (
        f.Option("7", "T" * f.ROW_TITLE, "D" * f.ROW_DESCRIPTION),
        f.Option("b", "Plain", None),
        f.Option("none", "None of these"),
    )
    for missing in ({"rows": "not a list"}, {"rows": 5}, {}):
        [only] = send(State(slots=missing), "hi", engine).outputs
        assert only == Buttons("Pick", (f.Option("none", "None of these"),))


# --- a tap on an earlier menu while a typed answer is awaited --------------------------------------------

TAPS = Engine(
    {
        "main": flow(
            "main",
            f.Choose("menu", prompt=text("Menu"),
                     options=(f.Option("a", "A", next="ask_a"), f.Option("b", "B", next="call"))),
            f.Ask("ask_a", prompt=text("A?"), slot="a", next="done"),
            f.Call("call", flow="sub", next="done"),
            f.End("done", text=text("Done.")),
            version="main-v",
        ),
        "sub": flow(
            "sub",
            f.Choose("pick", prompt=text("Pick"), options=(f.Option("x", "X", next="ask_x"),)),
            f.Ask("ask_x", prompt=text("X?"), slot="x"),
            version="sub-v",
        ),
    }
)  # fmt: skip


def at_ask_x() -> State:
    """The state of a customer asked "X?" in `sub`, called from the main menu."""
    state = TAPS.handle(send(State(), "hi", TAPS).state, Inbound("interactive", None, "b"), WHO, NOW).state
    state = TAPS.handle(state, Inbound("interactive", None, "x"), WHO, NOW).state
    assert (state.flow, state.step, state.stack) == ("sub", "ask_x", (Frame("main", "done"),))
    return state


def test_a_tap_on_the_main_menu_goes_there_and_forgets_the_call() -> None:
    """Tapping an old main-menu button while asked something in a called flow follows that button from the main flow."""
    turn = TAPS.handle(at_ask_x(), Inbound("interactive", None, "a"), WHO, NOW)
    assert says(turn) == ["A?"]
    assert replace(turn.state, expires_at=None) == State("main", "ask_a", stack=(), version="main-v")


def test_a_tap_on_a_long_earlier_menu_is_read_from_its_first_page() -> None:
    """A tap on an earlier paged menu, made while a question after it waits, is followed from the menu's first page."""
    options = tuple(f.Option(f"o{n}", f"Option {n}", next="ask") for n in range(1, 13))
    engine = Engine({"main": flow("main", f.Choose("menu", prompt=text("Pick"), options=options),
                                  f.Ask("ask", prompt=text("Why?"), slot="why"))})  # fmt: skip
    asked = send(send(State(), "hi", engine).state, "1", engine).state
    assert asked.step == "ask"
    turn = engine.handle(replace(asked, page=3), Inbound("interactive", None, "o12"), WHO, NOW)
    assert (says(turn), turn.state.step, turn.state.page) == (["Why?"], "ask", 0)


def test_a_tap_on_an_earlier_menu_of_the_same_flow_goes_there_keeping_the_call() -> None:
    """Tapping an earlier button of the flow itself follows it there, and the flow still returns to its caller."""
    turn = TAPS.handle(at_ask_x(), Inbound("interactive", None, "x"), WHO, NOW)
    assert says(turn) == ["X?"]
    assert (turn.state.flow, turn.state.step, turn.state.stack) == ("sub", "ask_x", (Frame("main", "done"),))


def test_a_tap_on_no_menu_at_a_question_is_a_wrong_try() -> None:
    """A tap matching no menu while a typed answer is awaited is told only text is read, and asked again."""
    turn = TAPS.handle(at_ask_x(), Inbound("interactive", None, "zzz"), WHO, NOW)
    assert (says(turn), turn.state.attempts) == (["I can only read text messages here.", "X?"], 1)


def test_a_stale_tap_at_a_menu_is_a_wrong_try_there() -> None:
    """At a menu, a button of another menu is not followed: it is a wrong pick of this one."""
    state = TAPS.handle(send(State(), "hi", TAPS).state, Inbound("interactive", None, "b"), WHO, NOW).state
    assert (state.flow, state.step) == ("sub", "pick")
    turn = TAPS.handle(state, Inbound("interactive", None, "a"), WHO, NOW)
    assert (turn.state.flow, turn.state.step, turn.state.attempts) == ("sub", "pick", 1)


def test_a_called_flow_that_ends_returns_to_its_caller_with_an_empty_stack() -> None:
    """When the called flow runs out of steps the caller goes on from the step after the call, no frame left."""
    turn = send(at_ask_x(), "anything", TAPS)
    assert says(turn) == ["Done."]
    engine = Engine({"main": flow("main", f.Call("c", flow="sub", next="after"), f.Ask("after", prompt=text("Next?"))),
                     "sub": flow("sub", f.Say("s", text=text("In sub.")))})  # fmt: skip
    back = send(State(), "hi", engine)
    assert says(back) == ["In sub.", "Next?"]
    assert (back.state.flow, back.state.step, back.state.stack) == ("main", "after", ())


# --- templates, actions and codes -------------------------------------------------------------------------


def test_a_template_text_is_sent_with_its_values_rendered() -> None:
    """A step whose text is a template sends that template with each value rendered from the slots."""
    say = f.Say("s", text=f.Text(template="order_update", values={"number": "{{ n }}", "who": "{{ contact.name }}"}))
    engine = Engine({"main": flow("main", say)})
    turn = send(State(slots={"n": 42}), "hi", engine)
    assert turn.outputs == (SendTemplate("order_update", {"number": "42", "who": "Aisha"}),)


def test_an_action_error_without_an_exit_apologises() -> None:
    """A failed action at a step with no `on_error` ends the flow with the apology."""
    engine = Engine({"main": flow("main", f.Act("a", action="x"))})
    state = send(State(), "hi", engine).state
    turn = engine.handle(state, ActionDone(error="boom"), WHO, NOW)
    assert (says(turn), turn.state.flow, turn.state.slots["error"]) == ([APOLOGY], None, "boom")


VERIFY = f.Verify("v", purpose="login", prompt=text("Type the code."), max_attempts=1, on_failure="no", next="yes")
VERIFYING = Engine({"main": flow("main", VERIFY, f.End("yes", text=text("Verified.")), f.End("no", text=text("No.")))})


def test_a_code_that_could_not_be_sent_says_so_and_leaves_by_the_failure_exit() -> None:
    """A refused code (paced, locked) is explained and the flow goes to `on_failure`, or ends without one."""
    state = send(State(), "hi", VERIFYING).state
    assert says(VERIFYING.handle(state, CodeSent(False), WHO, NOW)) == [CODE_REFUSED, "No."]
    bare = Engine({"main": flow("main", f.Verify("v", purpose="login"))})
    turn = bare.handle(send(State(), "hi", bare).state, CodeSent(False), WHO, NOW)
    assert (says(turn), turn.state.flow) == ([CODE_REFUSED], None)


def test_a_code_step_without_a_prompt_sends_nothing_more() -> None:
    """A verify step with no prompt of its own says nothing once its code is sent."""
    bare = Engine({"main": flow("main", f.Verify("v", purpose="login"))})
    assert bare.handle(send(State(), "hi", bare).state, CodeSent(True), WHO, NOW).outputs == ()


def test_running_out_of_code_tries_records_the_number_as_not_verified() -> None:
    """After the last wrong code `verified` is false, and a step with no failure exit ends politely."""
    state = send(State(), "hi", VERIFYING).state
    failed = VERIFYING.handle(state, CodeChecked(False), WHO, NOW)
    assert (says(failed), failed.state.slots["verified"]) == (["No."], False)
    bare = Engine({"main": flow("main", f.Verify("v", purpose="login", max_attempts=1))})
    turn = bare.handle(send(State(), "hi", bare).state, CodeChecked(False), WHO, NOW)
    assert (says(turn), turn.state.slots["verified"]) == ([EXHAUSTED], False)


@pytest.mark.parametrize(
    ("verified_at", "sends_a_code"),
    [
        pytest.param((NOW - VERIFY.valid_for + timedelta(seconds=1)).isoformat(), False, id="just-inside"),
        pytest.param((NOW - VERIFY.valid_for).isoformat(), True, id="exactly-valid_for-ago"),
        pytest.param("yesterday-ish", True, id="unreadable"),
        pytest.param((NOW - timedelta(minutes=1)).replace(tzinfo=None).isoformat(), True, id="naive"),
    ],
)
def test_a_recent_verification_is_one_less_than_valid_for_ago(verified_at: str, sends_a_code: bool) -> None:
    """A number verified less than `valid_for` ago skips the code; at exactly that age, or unreadable, it does not."""
    state = State(slots={"verified": True, "verified_at": verified_at})
    assert (send(state, "hi", VERIFYING).effect == SendCode("login")) is sends_a_code


def test_a_global_intent_jumps_to_its_flow_unless_the_menu_turns_commands_off() -> None:
    """ "saldo" at a menu runs the flow declaring `intent: balance` (not called from main: started itself);
    a menu with `commands: false` treats it as a wrong answer."""
    menu = f.Choose(
        "menu", prompt=text("Pick"), options=(f.Option("person", "A person", next="agent"),), reprompt=text("Pick one.")
    )
    balance = flow("money", f.Say("show", text=text("Your balance is 5.")), intent="balance")
    for commands, expected in ((True, ["Your balance is 5."]), (False, ["Pick one.", "Pick"])):
        main = flow("main", replace(menu, commands=commands), f.Handoff("agent", text=text("A person.")))
        engine = Engine({"main": main, "money": balance})
        turn = send(send(State(), "hi", engine).state, "Saldo!", engine)
        assert says(turn) == expected


# -- forms (WhatsApp Flows) ---------------------------------------------------------------------------

FORMS = flow(
    "main",
    f.Form(
        "rate",
        prompt=text("How did we do, {{ contact.name }}?"),
        flow_json="feedback",
        cta="Rate us",
        screen="RATE",
        data={"name": "{{ contact.name }}"},
        fields={"rating": f.FormField("number", required=True), "comment": f.FormField("text")},
        max_attempts=2,
        on_exhausted="gave_up",
        next="ask_more",
    ),
    f.Ask("ask_more", prompt=text("Anything else?"), slot="more", next="done"),
    f.End("done", text=text("Thanks, {{ rating }}!")),
    f.End("gave_up", text=text("Never mind.")),
)


def _form_turn() -> tuple[Engine, Turn]:
    engine = Engine({"main": FORMS})
    return engine, engine.handle(State(), Inbound("text", "hi"), WHO, NOW)


def test_a_form_step_sends_its_flow_with_a_token_kept_in_the_state() -> None:
    """Entering a form step sends the Flow (body, button, screen, data from the slots) and keeps its token."""
    _, turn = _form_turn()
    [sent] = turn.outputs
    assert isinstance(sent, SendForm)
    assert (sent.text, sent.flow_json, sent.cta, sent.screen) == (
        "How did we do, Aisha?",
        "feedback",
        "Rate us",
        "RATE",
    )
    assert sent.data == {"name": "Aisha"}
    assert sent.token == turn.state.token
    assert sent.token.startswith("feedback.")
    assert State.from_row(turn.state.to_row()).token == sent.token  # stored with the session


def test_the_form_s_answer_fills_the_declared_slots_and_goes_on() -> None:
    """An answer with the open form's token fills the declared fields as slots; the token is spent."""
    engine, turn = _form_turn()
    answer = FormAnswer(turn.state.token, {"rating": "4", "comment": "ok", "verified": True})
    after = engine.handle(turn.state, Inbound("interactive", "Sent", None, answer), WHO, NOW)
    assert after.outputs == (Say("Anything else?"),)
    assert after.state.slots == {"rating": 4, "comment": "ok"}
    assert after.state.token is None


def test_a_stale_answer_is_ignored_politely_wherever_the_customer_is() -> None:
    """An answer to another send changes nothing: the customer is told, and the waiting step asks again."""
    engine, turn = _form_turn()
    stale = FormAnswer("feedback.0000", {"rating": "1"})
    again = engine.handle(turn.state, Inbound("interactive", "Sent", None, stale), WHO, NOW)
    assert again.outputs[0] == Say("That form is no longer open, so we kept nothing from it.")
    assert isinstance(again.outputs[1], SendForm)
    assert again.state.slots == {}
    assert again.state.attempts == 0
    answered = engine.handle(
        turn.state, Inbound("interactive", "Sent", None, FormAnswer(turn.state.token, {"rating": 5})), WHO, NOW
    )
    late = engine.handle(
        answered.state, Inbound("interactive", "Sent", None, FormAnswer(turn.state.token, {"rating": 1})), WHO, NOW
    )
    assert late.outputs == (Say("That form is no longer open, so we kept nothing from it."), Say("Anything else?"))
    assert late.state.slots == {"rating": 5}


def test_a_wrong_or_unreadable_answer_asks_again_then_exits() -> None:
    """A missing required field or an unreadable answer is a wrong try: the hint and the form, then on_exhausted."""
    engine, turn = _form_turn()
    missing = FormAnswer(turn.state.token, {"comment": "no rating"})
    once = engine.handle(turn.state, Inbound("interactive", "Sent", None, missing), WHO, NOW)
    assert once.outputs[0] == Say("Some answers in the form were missing or not valid. Please fill it in again.")
    assert isinstance(once.outputs[1], SendForm)
    assert once.outputs[1].token == turn.state.token  # the same send, asked again
    unreadable = FormAnswer(None, error="response_json is not JSON")
    twice = engine.handle(once.state, Inbound("interactive", "Sent", None, unreadable), WHO, NOW)
    assert twice.outputs == (Say("Never mind."),)
    assert twice.state.flow is None


# --- answers sent, not typed; files said ------------------------------------------------------------------

PHOTO = {"media": 7, "kind": "image", "mime_type": "image/jpeg"}
PLACE = {"latitude": 52.37, "longitude": 4.89, "name": "Dam"}
SENT = Engine(
    {
        "main": flow(
            "main",
            f.Ask("photo", prompt=text("A photo, please."), slot="photo", validator=f.Validator("image"), next="where"),
            f.Ask("where", prompt=text("Where?"), slot="place", validator=f.Validator("location"), next="file"),
            f.Say(
                "file",
                media=f.Media(
                    "document", link="https://shop.example/{{ photo.media }}.pdf", caption=text("For {{ place.name }}")
                ),
                next="song",
            ),
            f.Say("song", media=f.Media("audio", file="media/jingle.mp3")),
        )
    }
)


def sent(state: State, kind: str, value: dict[str, Any] | None) -> Turn:
    message = Inbound(kind, location=value) if kind == "location" else Inbound(kind, media=value)
    return SENT.handle(state, message, Who("31612345678", "Ana", "pt_BR"), NOW)


def test_an_ask_for_a_photo_re_prompts_a_text_or_another_file_in_the_customers_language() -> None:
    """A text, a document or a location at a photo step is a wrong try, answered in the contact's language."""
    state = SENT.handle(State(), Inbound("text", "hi"), WHO, NOW).state
    for kind, value in (("text", None), ("document", {"media": 8, "kind": "document"}), ("location", PLACE)):
        turn = sent(state, kind, value)
        assert says(turn) == ["Envie uma foto: toque no clipe ou na câmera e escolha uma.", "A photo, please."]
        assert turn.state.step == "photo"
        assert "photo" not in turn.state.slots
        state = replace(turn.state, attempts=0)


def test_a_photo_fills_the_slot_with_its_media_row_and_a_location_with_the_place() -> None:
    """The slot keeps what the runner read from the message: the stored file's row, or the coordinates."""
    state = SENT.handle(State(), Inbound("text", "hi"), WHO, NOW).state
    state = sent(state, "image", PHOTO).state
    assert state.slots["photo"] == PHOTO
    assert state.step == "where"
    wrong = sent(state, "image", PHOTO)
    assert says(wrong)[0] == "Compartilhe uma localização: toque no clipe e depois em Localização."
    turn = sent(state, "location", PLACE)
    assert turn.state.slots["place"] == PLACE


def test_a_photo_without_a_stored_file_is_a_wrong_try() -> None:
    """An image message that named no media id (nothing to keep) is asked for again."""
    state = SENT.handle(State(), Inbound("text", "hi"), WHO, NOW).state
    assert sent(state, "image", None).state.attempts == 1


def test_say_sends_a_file_by_link_with_its_caption_rendered_or_a_project_file_by_name() -> None:
    """A link is Jinja over the slots, like the caption; a project file is named for the sender to upload."""
    state = SENT.handle(State(), Inbound("text", "hi"), WHO, NOW).state
    state = sent(state, "image", PHOTO).state
    turn = sent(state, "location", PLACE)
    assert turn.outputs == (
        SendMedia("document", link="https://shop.example/7.pdf", caption="For Dam"),
        SendMedia("audio", file="media/jingle.mp3"),
    )
    assert turn.state.flow is None


def test_a_link_that_renders_no_url_apologises() -> None:
    """A link made of an empty slot is not sent: the flow apologises and ends."""
    broken = Engine({"main": flow("main", f.Say("file", media=f.Media("image", link="{{ nothing }}")))})
    turn = broken.handle(State(), Inbound("text", "hi"), WHO, NOW)
    assert says(turn) == [APOLOGY]
    assert turn.state.flow is None


# --- interactive steps --------------------------------------------------------------------------------

STORES = flow(
    "main",
    f.Choose(
        "pick",
        prompt=text("Which store?"),
        options=(f.Option("near", "The nearest", next="where"),),
        header=f.Header(media="document", source="https://x.example.com/{{ contact.wa_id }}.pdf", filename="a.pdf"),
        footer="Open daily",
    ),
    f.RequestLocation(
        "where",
        prompt=text("Share your location"),
        slot="place",
        reprompt=text("Tap Send location, please"),
        max_attempts=2,
        on_exhausted="bye",
        next="map",
    ),
    f.Link(
        "map",
        text=text("Near {{ place.name }}"),
        button="Open the map",
        url="https://maps.example.com/?q={{ place.latitude }},{{ place.longitude }}",
        header=f.Header(text="Store {{ place.name }}"),
        next="bye",
    ),
    f.End("bye", text=text("Bye")),
)


def test_a_location_request_is_answered_by_a_shared_place_and_a_link_follows() -> None:
    """Buttons carry their file header; typing at a location request asks again; the place fills the slot."""
    engine = Engine({"main": STORES})
    first = send(State(), "hi", engine)
    [menu] = first.outputs
    assert isinstance(menu, Buttons)
    assert menu.footer == "Open daily"
    assert menu.header == HeaderMedia("document", link="https://x.example.com/31612345678.pdf", filename="a.pdf")
    asked = engine.handle(first.state, Inbound("interactive", None, "near"), WHO, NOW)
    assert asked.outputs == (LocationRequest("Share your location"),)
    again = send(asked.state, "I'm at home", engine)
    assert again.outputs == (LocationRequest("Tap Send location, please"),)
    shared = engine.handle(again.state, Inbound("location", None, None, location=PLACE), WHO, NOW)
    assert shared.state.slots["place"] == PLACE
    link, bye = shared.outputs
    assert link == LinkButton("Near Dam", "Open the map", "https://maps.example.com/?q=52.37,4.89", "Store Dam")
    assert bye == Say("Bye")


def test_a_location_request_ends_at_its_exit_after_its_tries_and_a_bad_link_apologises() -> None:
    """Two messages that are not a place take `on_exhausted`; a link whose URL is not https ends politely."""
    engine = Engine({"main": STORES})
    state = engine.handle(send(State(), "hi", engine).state, Inbound("interactive", None, "near"), WHO, NOW).state
    state = engine.handle(state, Inbound("image"), WHO, NOW).state
    assert engine.handle(state, Inbound("image"), WHO, NOW).outputs == (Say("Bye"),)
    bad = flow("main", f.Link("map", text=text("Map"), button="Open", url="http://{{ x }}"))
    turn = send(State(), "hi", Engine({"main": bad}))
    assert [o.text for o in turn.outputs if isinstance(o, Say)] == [APOLOGY]
