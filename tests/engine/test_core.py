"""The flow engine's pure core: steps, bounded retries, commands, calls, effects, timeouts, changed files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import flow as f
from bot.engine.core import APOLOGY, CANCELLED, CHANGED, EXHAUSTED, HANDED_OFF, HELP, TIMED_OUT, WRONG_CODE, Engine
from bot.engine.state import (
    ActionDone,
    Buttons,
    CheckCode,
    CodeChecked,
    CodeSent,
    Enter,
    Inbound,
    ListMenu,
    Released,
    RunAction,
    Say,
    SendCode,
    State,
    TimedOut,
    Turn,
    Who,
)

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
