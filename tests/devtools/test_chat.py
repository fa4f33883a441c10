"""`bot chat`: the shipped flows in a terminal, each line through the webhook's storage and the real dispatcher."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.devtools.chat import DEFAULT_WA_ID, Choice, run_chat, show
from bot.errors import ConfigError
from bot.message_templates.display import sent_values as template_values
from bot.message_templates.library import TemplateLibrary, render, to_cloud_api
from bot.whatsapp.message_body import media_message
from storage.repository import Repository

ROOT = Path(__file__).resolve().parents[2]
GREETING = "bot: Hi Ana! I'm the assistant of Example Store."
MENU = [
    "bot: What can I help you with?",
    "     [Menu]",
    "       1) My orders (Where is my order?)",
    "       2) Appointments (Book, move or cancel a visit)",
    "       3) Account balance (Check what is on your account)",
    "       4) Talk to a person (Someone from our team replies here)",
    "       5) Our stores (Where to find us, and the nearest one)",
    "       6) Give feedback (Rate us in a short form)",
]
ASK_NUMBER = "bot: What is your order number? You find it in your order confirmation."
BYE = "bot: Thanks for chatting with us. Write anytime!"
START = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def library() -> TemplateLibrary:
    return TemplateLibrary.load(ROOT / "templates")


async def chat(lines: Iterable[str], url: str, out: io.StringIO | None = None, **options: Any) -> list[str]:
    """Run a chat over the shipped flows and templates on `url`; its output, line by line."""
    out = out or io.StringIO()
    await run_chat(
        lines, out, flows=ROOT / "flows", templates=ROOT / "templates", database_url=url, start=START, **options
    )
    return out.getvalue().splitlines()


def after(output: list[str], typed: str) -> list[str]:
    """What the chat printed after the last time `typed` was echoed, up to the next typed line."""
    start = len(output) - output[::-1].index(f"> {typed}")
    rest = output[start:]
    end = next((i for i, line in enumerate(rest) if line.startswith("> ")), len(rest))
    return rest[:end]


async def test_the_customer_is_greeted_with_the_numbered_menu(database_url: str) -> None:
    """A first message gets the main flow's greeting and its list, each row numbered with its description."""
    output = await chat(["hi"], database_url)
    assert (
        output[0]
        == f"-- Chatting with the flows in {ROOT / 'flows'}/ as Ana (+{DEFAULT_WA_ID}); nothing is sent to WhatsApp."
    )
    assert after(output, "hi") == [GREETING, *MENU, "-- bye"]


async def test_a_number_taps_the_choice_as_an_interactive_reply(database_url: str) -> None:
    """Typing 1 at the menu sends a list reply with the row's id, exactly as a tap would, and the flow goes on."""
    output = await chat(["hi", "1"], database_url)
    assert after(output, "1") == ["-- tapped 'My orders'", ASK_NUMBER, "-- bye"]
    repository = Repository.connect(database_url)
    try:
        inbound = await repository.list_messages(wa_id=DEFAULT_WA_ID, direction="in", limit=10, before=None)
        tapped = await repository.message_by_wamid(max(inbound, key=lambda m: m["id"])["wamid"])
    finally:
        await repository.close()
    assert [m["type"] for m in sorted(inbound, key=lambda m: m["id"])] == ["text", "interactive"]
    assert tapped is not None
    assert tapped.reply_id == "orders"


async def test_buttons_are_numbered_and_picked_too(database_url: str) -> None:
    """Reply buttons become numbered choices; picking one by number follows that button."""
    output = await chat(["hi", "1", "10482", "2"], database_url)
    assert after(output, "10482")[1:] == [
        "bot: Anything else I can help with?",
        "       1) Main menu",
        "       2) No, thanks",
    ]
    assert after(output, "2") == ["-- tapped 'No, thanks'", BYE, "-- bye"]


async def test_a_number_without_choices_on_screen_is_sent_as_text(database_url: str) -> None:
    """Once the bot asks a question, the old menu's numbers no longer tap: 7 is the customer's text answer."""
    output = await chat(["hi", "1", "7"], database_url)
    assert after(output, "7") == ["bot: Order numbers have 4 to 10 digits, like 10482. What is yours?", "-- bye"]


async def test_waiting_lets_a_step_time_out(database_url: str) -> None:
    """/wait moves the virtual clock and runs the dispatcher, so the menu's 30-minute timeout says goodbye."""
    output = await chat(["hi", "/wait 10m", "/wait 20m", "/wait 2h"], database_url)
    assert after(output, "/wait 10m") == ["-- 10m later (2026-04-10 12:10 UTC)", "-- (nothing happened)"]
    assert after(output, "/wait 20m") == ["-- 20m later (2026-04-10 12:30 UTC)", BYE]
    assert after(output, "/wait 2h") == ["-- 2h later (2026-04-10 14:30 UTC)", "-- (nothing happened)", "-- bye"]


async def test_a_wait_needs_a_duration(database_url: str) -> None:
    """/wait without a duration like 30m says how to write one and moves no time."""
    output = await chat(["/wait soon"], database_url)
    assert after(output, "/wait soon") == ["-- /wait takes a duration: 30s, 10m, 2h or 1d", "-- bye"]


async def test_quit_ends_the_chat(database_url: str) -> None:
    """Nothing after /quit is read."""
    output = await chat(["hi", "/quit", "1"], database_url)
    assert output[-1] == "-- bye"
    assert "> 1" not in output
    assert "-- tapped 'My orders'" not in output


async def test_the_one_time_code_is_shown_as_a_sandbox_code_and_can_be_typed_back(database_url: str) -> None:
    """The balance flow's code prints as its template reads, marked as a sandbox code; typed back, it verifies."""
    out = io.StringIO()

    def lines() -> Iterator[str]:
        yield "hi"
        yield "3"
        yield re.findall(r"([0-9]{6}) is your verification code", out.getvalue())[-1]

    output = await chat(lines(), database_url, out)
    shown = after(output, "3")
    # The code is queued by the step itself, before the turn's text: the sender keeps one contact's order,
    # so the customer gets the code first, then the text that asks for it back.
    assert shown[:2] == ["-- tapped 'Account balance'", "bot: [authentication template login_code]"]
    assert re.fullmatch(
        r"     [0-9]{6} is your verification code\. For your security, do not share this code\.", shown[2]
    )
    assert shown[3:5] == ["     _This code expires in 10 minutes._", "     [Copy code]"]
    assert shown[5].startswith("     (sandbox code: ")
    assert shown[6] == "bot: To keep your account safe, I've sent you a 6-digit code. Please type it here."
    code = shown[2].split()[0]
    assert after(output, code)[0] == (
        "bot: I can't find an account for this WhatsApp number. Type agent and a person will look into it."
    )


async def test_reset_starts_over_as_a_new_contact(database_url: str) -> None:
    """/reset switches to a fresh number, which the bot greets as someone new."""
    output = await chat(["hi", "4", "hi", "/reset", "hi"], database_url, name="Ben", wa_id="31612345678")
    assert after(output, "4")[1] == "bot: Okay, a person from our team will reply here shortly."
    assert "-- (no reply)" in output  # handed off: the bot stays silent for the first contact
    assert after(output, "/reset") == ["-- a new contact: Ben (+31612345679), with no history"]
    assert after(output, "hi")[0] == "bot: Hi Ben! I'm the assistant of Example Store."


async def test_unknown_commands_show_the_help(database_url: str) -> None:
    """A slash word the chat does not know prints what it understands."""
    output = await chat(["/help"], database_url)
    assert after(output, "/help")[0].startswith("-- Type a message, or the number of a choice to tap it. /wait 30m")


async def test_a_number_that_is_not_a_wa_id_is_refused(database_url: str) -> None:
    """--as takes digits only, as WhatsApp numbers are written in webhooks."""
    with pytest.raises(ConfigError, match="6 to 15 digits"):
        await chat([], database_url, wa_id="+31 6 1234")


def test_templates_are_rendered_from_their_files(library: TemplateLibrary) -> None:
    """A utility or marketing template body prints as its file renders, quick replies as numbered choices."""
    template = library.get("back_in_stock")
    shown = show(to_cloud_api(template, DEFAULT_WA_ID, template.examples), library)
    rendered = render(template, template.examples)
    assert shown.lines == [
        "[marketing template back_in_stock]",
        "*Back in stock*",
        *rendered.text.splitlines(),
        "_Not interested? Tap Stop promotions_",
        "[View product]",
        "  1) Stop promotions",
    ]
    assert shown.choices == [Choice("quick_reply", "STOP_PROMOTIONS", "Stop promotions")]
    assert shown.choices[0].message() == {
        "type": "button",
        "button": {"payload": "STOP_PROMOTIONS", "text": "Stop promotions"},
    }


def test_template_values_come_back_from_named_and_positional_parameters(library: TemplateLibrary) -> None:
    """Named parameters fill their variables; positional ones (a code, a URL suffix) fill the rest in order."""
    for name in ("payment_link", "login_code", "back_in_stock"):
        template = library.get(name)
        body = to_cloud_api(template, DEFAULT_WA_ID, template.examples)
        assert template_values(template.variables, body["template"]) == {
            k: str(template.examples[k]) for k in template.variables
        }


def test_bot_chat_reads_piped_lines(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`printf 'hi\\n1\\n/quit\\n' | bot chat` prints the transcript: each line echoed, the bot's replies after it."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n1\n/quit\n"))
    assert main(["--env-file", "/nonexistent", "chat", "--name", "Ana"]) == 0
    output = capsys.readouterr().out.splitlines()
    assert after(output, "hi") == [GREETING, *MENU]
    assert after(output, "1") == ["-- tapped 'My orders'", ASK_NUMBER]
    assert output[-1] == "-- bye"


def test_at_a_terminal_lines_can_be_edited_and_recalled_and_demo_data_is_there(tmp_path: Path) -> None:
    """`bot chat --demo` in a real terminal: the up arrow recalls the last line, the history outlives the chat,
    and the demo's orders are the contact's (readline is only used when stdin is a terminal)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WHATSAPP_"))}
    env.update(HOME=str(tmp_path), TERM="xterm")
    leader, follower = os.openpty()
    command = [sys.executable, "-m", "bot", "--env-file", "/dev/null", "chat", "--demo"]
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""

    def until(text: bytes) -> None:
        nonlocal seen
        while text not in seen:
            ready, _, _ = select.select([leader], [], [], 60)
            assert ready, seen.decode(errors="replace")
            seen += os.read(leader, 4096)

    try:
        until(b"> ")
        typing = ((b"hi", b"1) My orders"), (b"1", b"Order 10482"), (b"\x1b[A\x1b[A", b"Which order"))
        for typed, shown in typing:  # the up arrow, twice: "hi" again
            seen = b""
            os.write(leader, typed + b"\r")
            until(shown)
            until(b"> ")
        os.write(leader, b"/quit\r")
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
        child.wait()
        os.close(leader)
    assert (tmp_path / ".bot_chat_history").read_text().split() == ["hi", "1", "hi", "/quit"]


def test_a_file_prints_as_its_kind_and_name_then_its_caption(library: TemplateLibrary) -> None:
    """A document shows its file name (a link its URL), then the caption's lines; nothing to tap."""
    document = media_message(DEFAULT_WA_ID, "document", media_id="1", caption="Your form\nPrint it", filename="f.pdf")
    assert show(document, library).lines == ["[document f.pdf]", "Your form", "Print it"]
    image = media_message(DEFAULT_WA_ID, "image", link="https://x.example/a.png")
    assert show(image, library).lines == ["[image https://x.example/a.png]"]


async def test_a_photo_header_a_location_request_and_a_link_print_as_lines(database_url: str) -> None:
    """The stores flow: its photo header as a line with its link; /location shares a place; the link shows its URL."""
    output = await chat(["hi", "5", "3", "/location 52.3386 4.8735 Zuid", "/location north"], database_url)
    assert after(output, "5")[:3] == [
        "-- tapped 'Our stores'",
        "bot: [Image] https://shop.example.com/images/stores.jpg",
        "     We have two stores in Amsterdam. Which one would you like to visit?",
    ]
    assert after(output, "3") == [
        "-- tapped 'The nearest one'",
        "bot: Share your location and I'll point you to the store nearer to you.",
        "     [Send location] (type /location LAT LON [NAME] to share one)",
    ]
    assert after(output, "/location 52.3386 4.8735 Zuid")[:3] == [
        "bot: Example Store Zuid is at Gustav Mahlerplein 1, Amsterdam.",
        "     [Open the map] → https://www.openstreetmap.org/?mlat=52.3386&mlon=4.8735#map=17/52.3386/4.8735",
        "     _Open Monday to Saturday, 09:00 to 18:00_",
    ]
    assert after(output, "/location north")[0].startswith("-- /location takes a latitude and a longitude")
