"""Template files: every shipped template is checked, rendered, sent and exported; broken ones are caught."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.errors import NotFound, ValidationError
from bot.message_templates.export import export, export_all
from bot.message_templates.library import (
    MessageTemplate,
    TemplateLibrary,
    check,
    render,
    to_cloud_api,
)
from bot.message_templates.rules import PROMOTIONAL
from bot.message_templates.template_file import environment, template_files, variables_in
from bot.whatsapp.message_body import rendered_message
from bot.whatsapp.rendered_template import Parameter, RenderedButton, RenderedTemplate

ROOT = Path(__file__).resolve().parents[2] / "templates"
BROKEN = Path(__file__).resolve().parents[1] / "templates_broken"
SHIPPED = template_files(ROOT)
TO = "351912345678"

REQUIRED = {
    "utility": [
        "appointment_reminder",
        "appointment_update",
        "order_confirmation",
        "order_delayed",
        "order_delivered",
        "payment_received",
        "payment_link",
        "shipping_window",
        "account_balance_low",
    ],
    "authentication": ["login_code", "account_setup_code"],
    "marketing": ["promotion_code", "back_in_stock", "business_hours_update", "abandoned_cart"],
}

META = "Meta allows only plain {{ variable }}"
BROKEN_CASES = {
    "utility/bad_yaml.en.md.j2": ["6:9: error: YAML: expected ',' or ']', but got ':'"],
    "utility/unknown_key.en.md.j2": [
        "5:1: error: unknown key 'colour'; allowed keys: name, category, language, header, footer, buttons, "
        "examples, security_recommendation, code_expiration_minutes"
    ],
    "utility/unknown_category.en.md.j2": [
        "3:11: error: unknown category 'transactional'; expected one of: service, utility, authentication, marketing"
    ],
    "utility/missing_example.en.md.j2": ["10:10: error: variable 'order_number' has no example"],
    "utility/for_loop.en.md.j2": [f"9:1: error: a {{% for %}} statement in a utility template; {META}"],
    "marketing/filter.en.md.j2": [f"11:21: error: the filter 'title' in a marketing template; {META}"],
    "marketing/long_button.en.md.j2": ["7:11: error: button 1 text is 33 characters; at most 20"],
    "authentication/link_code.en.md.j2": [
        "9:15: error: authentication templates may not contain links ('https://example.com/login')"
    ],
    "utility/promotional.en.md.j2": [
        "9:5: warning: utility template reads as promotional ('coupon', '% off'); Meta re-categorises it as marketing"
    ],
    "utility/jinja_syntax.en.md.j2": ["10:1: error: Jinja syntax error: unexpected '}'"],
}


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary.load(ROOT)


def _write(root: Path, relative: str, front: str, body: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front}---\n{body}", encoding="utf-8")
    return path


def _messages(root: Path) -> list[str]:
    return [f"{p.path.relative_to(root)}:{p.line}:{p.column}: {p.severity}: {p.message}" for p in check(root)]


# --- shipped templates ------------------------------------------------------------------------------


def test_shipped_templates_check_clean() -> None:
    """The shipped folder has no errors and no warnings at all."""
    assert [str(p) for p in check(ROOT)] == []


@pytest.mark.parametrize(("category", "names"), REQUIRED.items())
def test_ships_every_required_template(library: TemplateLibrary, category: str, names: list[str]) -> None:
    """Each use case of the issue has an English template of the right category in its category folder."""
    for name in names:
        template = library.get(name, "en")
        assert template.category == category
        assert template.path.parent == ROOT / category


def test_marketing_templates_offer_stop_promotions(library: TemplateLibrary) -> None:
    """Every marketing template lets the customer opt out with a "Stop promotions" quick reply."""
    for template in library:
        if template.category == "marketing":
            assert any(b.type == "quick_reply" and b.text == "Stop promotions" for b in template.buttons)


def test_authentication_templates_carry_only_a_code(library: TemplateLibrary) -> None:
    """Authentication templates send a one-time code and nothing else, never a password."""
    for template in library:
        if template.category == "authentication":
            assert template.variables == ("code",)
            assert "password" not in template.body.lower()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_template_renders_with_its_examples(library: TemplateLibrary, path: Path) -> None:
    """Each template renders its examples into plain text with no Jinja left over."""
    template = _by_path(library, path)
    rendered = render(template, template.examples)
    assert rendered.text
    for text in (rendered.text, rendered.header or "", rendered.footer or ""):
        assert "{{" not in text
        assert "{%" not in text
    media = [str(v) for v in rendered.header_media.object().values()] if rendered.header_media else []
    for value in template.examples.values():
        if template.meta_bound:
            assert str(value) in " ".join(
                [rendered.text, rendered.header or "", *media] + [b.url or "" for b in rendered.buttons]
            )


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_template_builds_a_send_body(library: TemplateLibrary, path: Path) -> None:
    """Each template becomes a Cloud API body through `bot.whatsapp.message_body`, with named parameters in order."""
    template = _by_path(library, path)
    body = to_cloud_api(template, TO, template.examples)
    assert body["to"] == TO
    json.dumps(body)
    if not template.meta_bound:
        assert body["type"] in ("text", "interactive")
        return
    sent = body["template"]
    assert (sent["name"], sent["language"]["code"]) == (template.name, template.language)
    if template.category == "authentication":
        code = template.examples["code"]
        assert [c["parameters"][0]["text"] for c in sent["components"]] == [code, code]
        return
    components = {c["type"]: c for c in sent["components"] if c["type"] != "button"}
    if template.header_media is not None:  # a file or place travels whole, as the header's one parameter
        [parameter] = components.pop("header")["parameters"]
        assert parameter["type"] == template.header_media.format
    for kind, source in (("header", template.header), ("body", template.body)):
        expected = variables_in(environment().parse(source or ""))
        names = [p["parameter_name"] for p in components.get(kind, {"parameters": []})["parameters"]]
        assert names == expected


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_template_exports_creation_json(library: TemplateLibrary, path: Path) -> None:
    """Each Meta-bound template exports Meta's creation JSON with an example for every named parameter."""
    template = _by_path(library, path)
    if not template.meta_bound:
        with pytest.raises(ValidationError, match="not submitted"):
            export(template)
        return
    exported = json.loads(json.dumps(export(template)))
    assert (exported["name"], exported["language"]) == (template.name, template.language)
    assert exported["category"] == template.category.upper()
    components = {c["type"]: c for c in exported["components"]}
    if template.category == "authentication":
        assert components["BODY"] == {"type": "BODY", "add_security_recommendation": True}
        assert components["FOOTER"]["code_expiration_minutes"] == 10
        assert components["BUTTONS"]["buttons"] == [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]
        return
    assert exported["parameter_format"] == "NAMED"
    body = components["BODY"]
    named = body.get("example", {}).get("body_text_named_params", [])
    for param in named:
        assert f"{{{{{param['param_name']}}}}}" in body["text"]
        assert param["example"] == template.examples[param["param_name"]]
    assert "{{ " not in body["text"]
    assert len(body["text"]) <= 1024


def test_export_all_skips_service_templates(library: TemplateLibrary) -> None:
    """The export command's list holds every Meta-bound template and no service reply."""
    exported = export_all(library)
    assert len(exported) == sum(t.meta_bound for t in library)
    assert all(e["category"] != "SERVICE" for e in exported)


def test_export_named_header_and_url_suffix(library: TemplateLibrary) -> None:
    """A header variable is a named parameter; a URL button keeps Meta's ``{{1}}`` suffix and a full example."""
    exported = export(library.get("payment_link", "en"))
    header, _, _, buttons = exported["components"]
    assert header["text"] == "Invoice {{invoice_number}}"
    assert header["example"] == {"header_text_named_params": [{"param_name": "invoice_number", "example": "INV-2031"}]}
    assert buttons["buttons"][0]["url"] == "https://pay.example.com/invoices/{{1}}"
    assert buttons["buttons"][0]["example"] == ["https://pay.example.com/invoices/7f3c9a"]


def _by_path(library: TemplateLibrary, path: Path) -> MessageTemplate:
    return next(t for t in library if t.path == path)


# --- send bodies pinned to the wire ----------------------------------------------------------------

# The Cloud API bodies the service sent for these shipped templates and their examples, key order included:
# the outbox stores them as JSON and Meta reads them as sent.
SENT_BODIES = {
    "login_code": {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "template",
        "template": {
            "name": "login_code",
            "language": {"code": "en"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "482913"}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "482913"}]},
            ],
        },
    },
    "payment_link": {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "template",
        "template": {
            "name": "payment_link",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "header",
                    "parameters": [{"type": "text", "parameter_name": "invoice_number", "text": "INV-2031"}],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "parameter_name": "customer_name", "text": "Tomás"},
                        {"type": "text", "parameter_name": "invoice_number", "text": "INV-2031"},
                        {"type": "text", "parameter_name": "amount", "text": "€120.00"},
                        {"type": "text", "parameter_name": "due_date", "text": "30 April 2026"},
                    ],
                },
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "7f3c9a"}]},
            ],
        },
    },
    "promotion_code": {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "template",
        "template": {
            "name": "promotion_code",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "parameter_name": "customer_name", "text": "Lena"},
                        {"type": "text", "parameter_name": "discount", "text": "15%"},
                        {"type": "text", "parameter_name": "promo_code", "text": "SPRING15"},
                        {"type": "text", "parameter_name": "expiry_date", "text": "30 April"},
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "SHOP_NOW"}],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "1",
                    "parameters": [{"type": "payload", "payload": "STOP_PROMOTIONS"}],
                },
            ],
        },
    },
    "order_status": {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {
                "text": "Order 10482 is shipped. It should arrive on Friday 17 April.\n\nAnything else I can help with?"
            },
            "action": {"buttons": [{"type": "reply", "reply": {"id": "HANDOFF", "title": "Talk to a person"}}]},
        },
    },
    "marketing_stopped": {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "text": {
            "body": "Done: you will get no more promotions from us. Order updates, reminders and codes still come as "
            "usual. Send START if you change your mind.",
            "preview_url": False,
        },
    },
}


def _wire(body: dict[str, Any]) -> str:
    """A body as the outbox stores it: JSON with its key order, so equal texts mean byte-for-byte equal bodies."""
    return json.dumps(body, ensure_ascii=False)


@pytest.mark.parametrize("name", SENT_BODIES)
def test_send_body_is_the_one_pinned(library: TemplateLibrary, name: str) -> None:
    """A shipped template with its examples becomes exactly the body pinned for it, key order included."""
    template = library.get(name, "en")
    assert _wire(to_cloud_api(template, TO, template.examples)) == _wire(SENT_BODIES[name])


def test_authentication_template_renders_to_one_value(library: TemplateLibrary) -> None:
    """A copy-code template renders to what the phone shows and the code, positional, in body and button."""
    rendered = render(library.get("login_code", "en"), {"code": "482913"})
    assert rendered == RenderedTemplate(
        name="login_code",
        language="en",
        category="authentication",
        text="482913 is your verification code. For your security, do not share this code.",
        footer="This code expires in 10 minutes.",
        buttons=(RenderedButton("copy_code", "Copy code", parameters=("482913",)),),
        body_parameters=(Parameter("482913"),),
    )


def test_utility_template_renders_to_one_value(library: TemplateLibrary) -> None:
    """A utility template with a header, footer and URL button renders to the texts shown and named parameters."""
    template = library.get("payment_link", "en")
    assert render(template, template.examples) == RenderedTemplate(
        name="payment_link",
        language="en",
        category="utility",
        text="Hi Tomás, invoice INV-2031 for €120.00 is due on 30 April 2026.\n\n"
        "Tap the button below to pay it online.",
        header="Invoice INV-2031",
        footer="Secure payment by card or bank transfer",
        buttons=(
            RenderedButton("url", "Pay invoice", url="https://pay.example.com/invoices/7f3c9a", parameters=("7f3c9a",)),
        ),
        header_parameters=(Parameter("INV-2031", "invoice_number"),),
        body_parameters=(
            Parameter("Tomás", "customer_name"),
            Parameter("INV-2031", "invoice_number"),
            Parameter("€120.00", "amount"),
            Parameter("30 April 2026", "due_date"),
        ),
    )


def test_service_template_renders_without_parameters(library: TemplateLibrary) -> None:
    """A service reply goes as text or reply buttons, so its value carries the texts and no template parameters."""
    template = library.get("order_status", "en")
    rendered = render(template, template.examples)
    assert rendered.buttons == (RenderedButton("quick_reply", "Talk to a person", "HANDOFF"),)
    assert (rendered.header_parameters, rendered.body_parameters) == ((), ())


@pytest.mark.parametrize("name", SENT_BODIES)
def test_builder_turns_the_rendered_value_into_the_pinned_body(library: TemplateLibrary, name: str) -> None:
    """The WhatsApp builder, given only the rendered value, builds exactly the body pinned for the template."""
    template = library.get(name, "en")
    assert _wire(rendered_message(TO, render(template, template.examples))) == _wire(SENT_BODIES[name])


# --- language fallback ------------------------------------------------------------------------------


def test_exact_language_wins(library: TemplateLibrary) -> None:
    """A template that exists in the asked language is the one returned."""
    assert library.get("appointment_reminder", "pt_BR").language == "pt_BR"
    assert (
        "Olá"
        in render(
            library.get("appointment_reminder", "pt_BR"), library.get("appointment_reminder", "pt_BR").examples
        ).text
    )


def test_regional_language_falls_back_to_default(library: TemplateLibrary) -> None:
    """With neither ``pt_PT`` nor ``pt`` shipped, the default language answers."""
    assert library.get("appointment_reminder", "pt_PT").language == "en"
    assert library.get("order_confirmation", "pt_BR").language == "en"


def test_regional_language_falls_back_to_base_language(tmp_path: Path) -> None:
    """``pt_BR`` falls back to ``pt`` before the default language."""
    front = "name: greeting\ncategory: utility\nlanguage: {lang}\nexamples:\n  who: Ana\n"
    _write(tmp_path, "utility/greeting.en.md.j2", front.format(lang="en"), "Hello {{ who }}.\n")
    _write(tmp_path, "utility/greeting.pt.md.j2", front.format(lang="pt"), "Olá {{ who }}.\n")
    library = TemplateLibrary.load(tmp_path)
    assert library.get("greeting", "pt_BR").language == "pt"
    assert library.fallbacks("pt_BR") == ["pt_BR", "pt", "en"]


def test_unknown_template_is_not_found(library: TemplateLibrary) -> None:
    """Asking for a template that does not exist in any fallback language is `NotFound`."""
    with pytest.raises(NotFound, match="no_such_template"):
        library.get("no_such_template", "en")


# --- rendering --------------------------------------------------------------------------------------


def test_missing_variable_names_file_and_variable(library: TemplateLibrary) -> None:
    """Rendering without a value says which file and which variable."""
    template = library.get("appointment_reminder", "en")
    values = {k: v for k, v in template.examples.items() if k != "time"}
    with pytest.raises(ValidationError, match=r"appointment_reminder\.en\.md\.j2: no value for variable 'time'"):
        render(template, values)
    with pytest.raises(ValidationError, match="'time'"):
        to_cloud_api(template, TO, values)


def test_service_missing_variable_in_used_branch(library: TemplateLibrary) -> None:
    """A service text needs only the values its branch uses; a missing one is named with the file."""
    template = library.get("order_status", "en")
    assert render(template, {"order_number": "7", "status": "packed"}).text.startswith("Order 7 is packed.")
    with pytest.raises(ValidationError, match=r"order_status\.en\.md\.j2: missing variable: 'delivery_date'"):
        render(template, {"order_number": "7", "status": "shipped"})


def test_service_missing_variable_in_plain_text(tmp_path: Path) -> None:
    """A service text with no branches still names the file and the variable whose value is missing."""
    _write(
        tmp_path,
        "service/hello.en.md.j2",
        "name: hello\ncategory: service\nlanguage: en\nexamples:\n  who: Ana\n",
        "Hi {{ who }}.\n",
    )
    template = TemplateLibrary.load(tmp_path).get("hello", "en")
    with pytest.raises(ValidationError, match=r"hello\.en\.md\.j2: missing variable: 'who' is undefined"):
        render(template, {})


def test_rendering_does_not_escape_html(library: TemplateLibrary) -> None:
    """WhatsApp text is plain, so an ampersand reaches the customer as typed."""
    template = library.get("appointment_update", "en")
    values = {**template.examples, "location": "Smith & Sons, 4 <Main> Street"}
    assert "Smith & Sons, 4 <Main> Street" in render(template, values).text


def test_parameter_with_newline_is_refused(library: TemplateLibrary) -> None:
    """Meta rejects template parameters holding newlines, so the send body is never built."""
    template = library.get("order_delayed", "en")
    with pytest.raises(ValidationError, match="reason"):
        to_cloud_api(template, TO, {**template.examples, "reason": "snow\nand ice"})


def test_preview_shows_a_value_that_a_send_refuses(library: TemplateLibrary) -> None:
    """Rendering shows any value as given; Meta's rule against newlines in parameters stops only the send."""
    template = library.get("order_delayed", "en")
    values = {**template.examples, "reason": "snow\nand ice"}
    assert "snow\nand ice" in render(template, values).text
    with pytest.raises(ValidationError, match="'reason' must be non-empty text without newlines or tabs"):
        to_cloud_api(template, TO, values)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_rendered_texts_are_what_jinja_renders(library: TemplateLibrary, path: Path) -> None:
    """Every text of a shipped template renders as Jinja renders it, for text values and for numbers alike."""
    template = _by_path(library, path)
    jinja = environment()
    for values in (dict(template.examples), {**template.examples, **dict.fromkeys(template.variables, 7)}):
        if template.category == "service" and values != template.examples:
            continue  # a service text's branches compare values to words; numbers would only take another branch
        rendered = render(template, values)
        texts = (
            {"header": template.header}
            if template.category == "authentication"
            else {"text": template.body, "header": template.header, "footer": template.footer}
        )
        for field, source in texts.items():
            expected = jinja.from_string(source).render(values).strip() if source else None
            assert getattr(rendered, field) == expected
        for button, shown in zip(template.buttons, rendered.buttons, strict=True):
            assert shown.url == (jinja.from_string(button.url).render(values).strip() if button.url else None)


def test_rendering_trims_and_joins_lines_as_jinja_does(tmp_path: Path) -> None:
    """Blank lines around a text, Windows line ends and a comment render as Jinja renders them."""
    front = "name: greeting\ncategory: utility\nlanguage: en\nheader: ' Hi {{ who }} '\nexamples:\n  who: Ana\n"
    body = "\n\n  Hello {{ who }},{# a note #}\r\nsee you.  \n\n"
    _write(tmp_path, "utility/greeting.en.md.j2", front, body)
    template = TemplateLibrary.load(tmp_path).get("greeting", "en")
    rendered = render(template, {"who": "Ana"})
    assert (rendered.header, rendered.text) == ("Hi Ana", "Hello Ana,\nsee you.")
    assert rendered.text == environment().from_string(template.body).render(who="Ana").strip()


def test_sandbox_blocks_unsafe_attribute_access(tmp_path: Path) -> None:
    """Service templates run in Jinja's sandbox: reaching into Python internals fails as a template error."""
    _write(tmp_path, "service/sneaky.en.md.j2", "name: sneaky\ncategory: service\nlanguage: en\n", "x\n")
    template = TemplateLibrary.load(tmp_path).get("sneaky", "en")
    unsafe = replace(template, body="{{ ''.__class__.__mro__ }}")
    with pytest.raises(ValidationError, match=r"sneaky\.en\.md\.j2"):
        render(unsafe, {})


# --- the checker on broken templates ----------------------------------------------------------------


@pytest.mark.parametrize(("relative", "expected"), BROKEN_CASES.items())
def test_broken_template_is_reported_at_its_position(relative: str, expected: list[str]) -> None:
    """Each broken file yields exactly the expected ``path:line:col`` messages."""
    found = [m for m in _messages(BROKEN) if m.startswith(f"{relative}:")]
    assert found == [f"{relative}:{message}" for message in expected]


def test_every_broken_file_is_in_the_table() -> None:
    """No broken example goes unasserted."""
    assert {str(p.relative_to(BROKEN)) for p in template_files(BROKEN)} == set(BROKEN_CASES)


def test_problem_prints_like_a_compiler() -> None:
    """`str(problem)` is ``path:line:col: severity: message`` so editors can jump to it."""
    problem = next(p for p in check(BROKEN) if p.path.name == "unknown_category.en.md.j2")
    assert str(problem).startswith(f"{BROKEN}/utility/unknown_category.en.md.j2:3:11: error: unknown category")


def test_library_refuses_a_folder_with_errors() -> None:
    """Loading a folder with errors raises, listing them, so nothing unchecked is ever sent."""
    with pytest.raises(ValidationError, match=r"bad_yaml\.en\.md\.j2:6:9: error"):
        TemplateLibrary.load(BROKEN)


def test_warnings_do_not_stop_loading(tmp_path: Path) -> None:
    """A promotional utility template is a warning: the library still loads it."""
    _write(
        tmp_path, "utility/deal.en.md.j2", "name: deal\ncategory: utility\nlanguage: en\n", "Today's deal is ready.\n"
    )
    assert [p.severity for p in check(tmp_path)] == ["warning"]
    assert len(TemplateLibrary.load(tmp_path)) == 1


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Get 20% off today", ["% off"]),
        ("Special OFFERS inside", ["OFFERS"]),
        ("Use the coupon or the promo", ["coupon", "promo"]),
        ("Feel free to call", ["free"]),
        ("Your freedom, our offering, the wholesale price", []),
        ("Your order has shipped", []),
    ],
)
def test_promotional_words_match_whole_words(text: str, words: list[str]) -> None:
    """The promotional word list matches whole words in any case, with a plural, and nothing inside words."""
    assert PROMOTIONAL.findall(text) == words


FRONT = "name: {name}\ncategory: {category}\nlanguage: en\n"


@pytest.mark.parametrize(
    ("relative", "front", "body", "expected"),
    [
        (
            "utility/lang.en.md.j2",
            "name: lang\ncategory: utility\nlanguage: pt_BR\n",
            "Hello.\n",
            ["4:11: error: language 'pt_BR' does not match the file name 'en'"],
        ),
        (
            "marketing/folder.en.md.j2",
            FRONT.format(name="folder", category="utility"),
            "Hello.\n",
            ["3:11: error: a utility template belongs in the utility/ folder, not marketing/"],
        ),
        (
            "authentication/otp.en.md.j2",
            FRONT.format(name="otp", category="authentication") + "examples:\n  code: '1234567890123456'\n",
            "{{ code }} is your verification code.\n",
            ["6:9: error: example code is 16 characters; Meta allows at most 15"],
        ),
        (
            "authentication/otp.en.md.j2",
            FRONT.format(name="otp", category="authentication") + "examples:\n  code: '123456'\n  user: Ana\n",
            "{{ code }} is your code, {{ user }} 🔐\n",
            [
                "9:37: error: authentication templates may not contain emoji ('🔐')",
                "9:1: error: an authentication template's only variable is {{ code }}; found user",
            ],
        ),
        (
            "utility/times.en.md.j2",
            FRONT.format(name="times", category="utility") + "examples:\n  time: 9:30\n",
            "See you at {{ time }}.\n",
            ["6:9: error: example for 'time' must be a string; quote it"],
        ),
        (
            "utility/missing.en.md.j2",
            "category: utility\nlanguage: en\n",
            "Hello.\n",
            ["1:1: error: missing required key 'name'"],
        ),
        (
            "utility/open.en.md.j2",
            "",
            "",
            [],
        ),
    ],
)
def test_schema_and_format_rules(tmp_path: Path, relative: str, front: str, body: str, expected: list[str]) -> None:
    """File name, folder, types, authentication format and required keys are each reported where they are."""
    if front or body:
        _write(tmp_path, relative, front, body)
    else:
        (tmp_path / "utility").mkdir()
        (tmp_path / relative).write_text("---\nname: open\n", encoding="utf-8")
        expected = ["1:1: error: the front matter opened on line 1 is never closed by a '---' line"]
    assert _messages(tmp_path) == [f"{relative}:{m}" for m in expected]


def test_duplicate_name_and_language_is_an_error(tmp_path: Path) -> None:
    """Two files for one (name, language) are refused, naming the first file."""
    _write(tmp_path, "utility/twin.en.md.j2", FRONT.format(name="twin", category="utility"), "One.\n")
    _write(tmp_path, "utility/more/twin.en.md.j2", FRONT.format(name="twin", category="utility"), "Two.\n")
    messages = _messages(tmp_path)
    assert any("'twin' in 'en' is also defined in" in m for m in messages)


def test_too_many_quick_replies(tmp_path: Path) -> None:
    """Meta allows at most ten quick-reply buttons on a template."""
    buttons = "".join(f"  - type: quick_reply\n    text: Option {n}\n" for n in range(11))
    front = FRONT.format(name="menu", category="marketing") + "buttons:\n" + buttons
    _write(tmp_path, "marketing/menu.en.md.j2", front, "Pick one.\n")
    assert _messages(tmp_path) == ["marketing/menu.en.md.j2:6:3: error: 11 quick-reply buttons; Meta allows 10"]


# --- file and place headers -------------------------------------------------------------------------


def test_a_document_header_exports_as_metas_document_format_with_its_example_file(library: TemplateLibrary) -> None:
    """`order_invoice` exports a DOCUMENT header whose example is the example URL; a place exports its format only."""
    invoice = export(library.get("order_invoice", "en"))
    assert invoice["components"][0] == {
        "type": "HEADER",
        "format": "DOCUMENT",
        "example": {"header_handle": ["https://shop.example.com/invoices/10482.pdf"]},
    }
    assert export(library.get("pickup_ready", "en"))["components"][0] == {"type": "HEADER", "format": "LOCATION"}


def test_an_image_header_goes_by_media_id_or_link_and_displays_as_a_file(tmp_path: Path) -> None:
    """An image header's value is a media id (digits) or a link; the send carries it whole as Meta documents."""
    front = (
        'name: new_arrival\ncategory: marketing\nlanguage: en\nheader:\n  image: "{{ photo }}"\n'
        "buttons:\n  - {type: quick_reply, text: Stop promotions, payload: STOP}\n"
        "examples:\n  photo: https://shop.example.com/p.jpg\n  item: Boots\n"
    )
    _write(tmp_path, "marketing/new_arrival.en.md.j2", front, "The {{ item }} are back.\n")
    template = TemplateLibrary.load(tmp_path).get("new_arrival", "en")
    by_id = to_cloud_api(template, TO, {"photo": "99887766", "item": "Boots"})["template"]["components"][0]
    assert by_id == {"type": "header", "parameters": [{"type": "image", "image": {"id": "99887766"}}]}
    by_link = to_cloud_api(template, TO, {"photo": "https://cdn.example.com/b.jpg", "item": "Boots"})
    assert by_link["template"]["components"][0]["parameters"][0]["image"] == {"link": "https://cdn.example.com/b.jpg"}


HEADER_CASES = {
    "authentication": (
        "name: code_doc\ncategory: authentication\nlanguage: en\nheader:\n  document: https://x.example.com/a.pdf\n"
        "examples:\n  code: '123456'\n",
        "{{ code }} is your verification code.\n",
        ["6:3: error: a document header belongs in utility and marketing templates only"],
    ),
    "unknown key": (
        "name: bad_header\ncategory: utility\nlanguage: en\nheader:\n  image: '{{ photo }}'\n  filename: a.png\n"
        "examples:\n  photo: https://x.example.com/a.png\n",
        "Your photo.\n",
        ["7:3: error: unknown key 'filename' in the header; allowed keys: image"],
    ),
    "two formats": (
        "name: bad_header\ncategory: utility\nlanguage: en\nheader: {image: a, video: b}\n",
        "Hi.\n",
        [
            "5:9: error: 'header' must be a text, {image: URL}, {video: URL}, {document: URL, filename: NAME} or "
            "{location: {latitude: …, longitude: …, name: …, address: …}}"
        ],
    ),
    "place without longitude": (
        "name: bad_header\ncategory: utility\nlanguage: en\nheader:\n  location: {latitude: '{{ lat }}'}\n"
        "examples:\n  lat: '52.1'\n",
        "Here.\n",
        ["6:13: error: a location header needs 'longitude'"],
    ),
    "bad example": (
        "name: bad_header\ncategory: utility\nlanguage: en\nheader:\n  document: '{{ invoice }}'\n"
        "examples:\n  invoice: invoice.pdf\n",
        "Your invoice.\n",
        ["6:3: error: with the examples, the document header must be an http(s) URL or a media id"],
    ),
}


@pytest.mark.parametrize("case", HEADER_CASES, ids=str)
def test_a_wrong_file_or_place_header_is_reported_at_its_line(tmp_path: Path, case: str) -> None:
    """Headers Meta would refuse are `bot check` errors at the line and column of the value at fault."""
    front, body, expected = HEADER_CASES[case]
    name, category = (front.split(f"{key}: ")[1].split("\n")[0] for key in ("name", "category"))
    _write(tmp_path, f"{category}/{name}.en.md.j2", front, body)
    assert [m.split(":", 1)[1] for m in _messages(tmp_path)] == expected


def test_the_values_meta_would_refuse_are_exactly_unicodes_control_characters_and_surrogates() -> None:
    """`_check_fits` searches values with one pattern: it must match what `unicodedata` calls Cc or Cs, all of it."""
    import unicodedata

    from bot.message_templates.library import _CONTROL_OR_SURROGATE

    refused = {c for c in map(chr, range(0x110000)) if _CONTROL_OR_SURROGATE.search(c)}
    assert refused == {c for c in map(chr, range(0x110000)) if unicodedata.category(c) in ("Cc", "Cs")}
    assert len(refused) == 65 + 2048
