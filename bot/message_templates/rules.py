"""The content rules a template must meet before Meta (or a customer) sees it, as checks on its syntax trees.

Meta's template rules and limits: https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/
Authentication templates: https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/authentication-templates/
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator

from jinja2 import TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

from bot.errors import ValidationError
from bot.message_templates.template_file import FrontMatter, MessageTemplate, Position, Reading
from bot.whatsapp.message_body import AUTH_CODE_MAX, BUTTON_TITLE_MAX, FOOTER_MAX, HEADER_MAX, TEXT_BODY_MAX
from bot.whatsapp.rendered_template import HeaderMedia
from bot.yaml_file import KeyPath

Finder = Callable[[str], Iterator[tuple[int, str]]]

TEMPLATE_BODY_MAX = 1024
QUICK_REPLIES_MAX = 10
URL_BUTTONS_MAX = 2
SERVICE_BUTTONS_MAX = 3
AUTH_VARIABLE = "code"

# Meta re-categorises a utility template that reads as promotional as marketing, at approval and in later
# sweeps. Matched case-insensitively as whole words (a plural "s" allowed).
PROMOTIONAL_WORDS = ("discount", "offer", "sale", "% off", "free", "deal", "coupon", "promo")

LINK = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|net|org|io|app|co|br)\b\S*", re.IGNORECASE)


def _word_pattern(word: str) -> str:
    core = r"\s*".join(re.escape(part) for part in word.split())
    start = r"(?<!\w)" if word[0].isalnum() else ""
    return f"{start}{core}s?(?!\\w)"


PROMOTIONAL = re.compile("|".join(_word_pattern(w) for w in PROMOTIONAL_WORDS), re.IGNORECASE)


def meta_text(ast: nodes.Template) -> str:
    """A plain template in Meta's notation: text with ``{{name}}`` placeholders, trimmed like the render."""
    parts: list[str] = []
    for output in ast.body:
        for child in output.iter_child_nodes() if isinstance(output, nodes.Output) else ():
            if isinstance(child, nodes.TemplateData):
                parts.append(child.data)
            elif isinstance(child, nodes.Name):
                parts.append(f"{{{{{child.name}}}}}")
    return "".join(parts).strip()


def non_plain(ast: nodes.Template) -> Iterator[tuple[int, str, str]]:
    """Everything Meta cannot express: yields (line, text to point at, description) per construct.

    Meta's placeholders are bare names, so only literal text and ``{{ name }}`` pass.
    """
    for node in ast.body:
        if not isinstance(node, nodes.Output):
            keyword = type(node).__name__.lower()
            yield node.lineno, "{%", f"a {{% {keyword} %}} statement"
            continue
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData | nodes.Name):
                continue
            if isinstance(child, nodes.Filter):
                yield child.lineno, "|", f"the filter '{child.name}'"
            else:
                yield child.lineno, "{{", f"a {type(child).__name__.lower()} expression"


class Checker:
    """Runs every content rule on one template that was read successfully."""

    def __init__(
        self, template: MessageTemplate, asts: dict[KeyPath, nodes.Template], front: FrontMatter, reading: Reading
    ) -> None:
        self.template = template
        self.asts = asts
        self.front = front
        self.reading = reading

    def run(self, env: SandboxedEnvironment) -> None:
        self.examples()
        if self.template.meta_bound:
            self.plain()
            self.meta_limits()
            self.header_example(env)
        else:
            self.service_limits(env)
        self.common_limits()
        if self.template.category == "authentication":
            self.authentication()
        elif any(b.type == "copy_code" for b in self.template.buttons):
            self.reading.error(self.front.at("buttons"), "copy_code buttons belong to authentication templates only")
        if self.template.category == "utility":
            self.promotional()

    # --- positions ----------------------------------------------------------------------------------

    def body_position(self, lineno: int, needle: str) -> Position:
        lines = self.template.body.splitlines() or [""]
        text = lines[min(lineno, len(lines)) - 1]
        found = re.search(rf"\b{re.escape(needle)}\b", text) if needle.isidentifier() else None
        column = found.start() if found else text.find(needle)
        return self.template.body_line + lineno - 1, column + 1

    def offset_position(self, index: int) -> Position:
        before = self.template.body[:index]
        return self.template.body_line + before.count("\n"), index - (before.rfind("\n") + 1) + 1

    def where(self, path: KeyPath, lineno: int, needle: str) -> Position:
        return self.body_position(lineno, needle) if path == ("body",) else self.front.at(*path)

    def texts(self) -> Iterator[tuple[KeyPath, str]]:
        """Every customer-visible string with its place: header, body, footer, button texts."""
        if self.template.header:
            yield ("header",), self.template.header
        yield ("body",), self.template.body
        if self.template.footer:
            yield ("footer",), self.template.footer
        for index, button in enumerate(self.template.buttons):
            yield ("buttons", index, "text"), button.text

    def search(self, find: Finder) -> Iterator[tuple[Position, str]]:
        for path, text in self.texts():
            for index, found in find(text):
                yield (self.offset_position(index) if path == ("body",) else self.front.at(*path)), found

    # --- rules --------------------------------------------------------------------------------------

    def examples(self) -> None:
        reported = set(self.template.examples)
        for path, ast in self.asts.items():
            for name in ast.find_all(nodes.Name):
                if name.ctx == "load" and name.name in self.template.variables and name.name not in reported:
                    self.reading.error(
                        self.where(path, name.lineno, name.name), f"variable {name.name!r} has no example"
                    )
                    reported.add(name.name)
        for key in self.template.examples:
            if key not in self.template.variables:
                self.reading.warning(self.front.at("examples", key), f"example {key!r} is not used by the template")

    def plain(self) -> None:
        for path, ast in self.asts.items():
            for lineno, needle, what in non_plain(ast):
                self.reading.error(
                    self.where(path, lineno, needle),
                    f"{what} in a {self.template.category} template; Meta allows only plain {{{{ variable }}}}",
                )
        fixed = [("footer",), *(p for p in self.asts if p[-1] == "text" and p[0] == "buttons")]
        for path in fixed:
            if path in self.asts and any(True for _ in self.asts[path].find_all(nodes.Name)):
                self.reading.error(self.front.at(*path), f"{_label(path)} cannot hold variables in a Meta template")
        self.placeholder_counts()

    def placeholder_counts(self) -> None:
        header = self.asts.get(("header",))
        if header is not None and len(list(header.find_all(nodes.Name))) > 1:
            self.reading.error(self.front.at("header"), "a header may hold at most one variable")
        for index, button in enumerate(self.template.buttons):
            url = self.asts.get(("buttons", index, "url"))
            if url is None or button.url is None:
                continue
            names = list(url.find_all(nodes.Name))
            if len(names) > 1 or (names and not button.url.rstrip().endswith("}}")):
                self.reading.error(self.front.at("buttons", index, "url"), "a URL may end in one variable, no more")

    def meta_limits(self) -> None:
        body = meta_text(self.asts[("body",)])
        if not body:
            self.reading.error((self.template.body_line, 1), "the body is empty")
        elif len(body) > TEMPLATE_BODY_MAX:
            self.reading.error(
                (self.template.body_line, 1), f"body is {len(body)} characters; Meta allows {TEMPLATE_BODY_MAX}"
            )
        quick = sum(b.type == "quick_reply" for b in self.template.buttons)
        if quick > QUICK_REPLIES_MAX:
            self.reading.error(
                self.front.at("buttons"), f"{quick} quick-reply buttons; Meta allows {QUICK_REPLIES_MAX}"
            )
        urls = sum(b.type == "url" for b in self.template.buttons)
        if urls > URL_BUTTONS_MAX:
            self.reading.error(self.front.at("buttons"), f"{urls} URL buttons; Meta allows {URL_BUTTONS_MAX}")

    def header_example(self, env: SandboxedEnvironment) -> None:
        """A file or place header filled with the examples is one Meta accepts: the export submits it."""
        source = self.template.header_media
        if source is None or any(v not in self.template.examples for v in self.template.variables):
            return  # a missing example is reported on its own
        try:
            filled = {n: env.from_string(t).render(self.template.examples).strip() for n, t in source.fields.items()}
            HeaderMedia.read(source.format, filled)
        except TemplateError as exc:
            self.reading.error(self.front.at("header"), f"rendering the header with the examples failed: {exc}")
        except ValidationError as exc:
            self.reading.error(self.front.at("header"), f"with the examples, {exc.message}")

    def service_limits(self, env: SandboxedEnvironment) -> None:
        try:
            text = env.from_string(self.template.body).render(self.template.examples).strip()
        except TemplateError as exc:
            self.reading.error((self.template.body_line, 1), f"rendering with the examples failed: {exc}")
            return
        if len(text) > TEXT_BODY_MAX:
            self.reading.error(
                (self.template.body_line, 1), f"body renders to {len(text)} characters; max {TEXT_BODY_MAX}"
            )
        if any(b.type != "quick_reply" for b in self.template.buttons):
            self.reading.error(self.front.at("buttons"), "service replies take quick_reply buttons only")
        if len(self.template.buttons) > SERVICE_BUTTONS_MAX:
            self.reading.error(self.front.at("buttons"), f"service replies take at most {SERVICE_BUTTONS_MAX} buttons")

    def common_limits(self) -> None:
        for key, maximum in (("header", HEADER_MAX), ("footer", FOOTER_MAX)):
            value = getattr(self.template, key)
            if value is not None and len(value) > maximum:
                self.reading.error(self.front.at(key), f"{key} is {len(value)} characters; at most {maximum}")
        for index, button in enumerate(self.template.buttons):
            if len(button.text) > BUTTON_TITLE_MAX:
                self.reading.error(
                    self.front.at("buttons", index, "text"),
                    f"button {index + 1} text is {len(button.text)} characters; at most {BUTTON_TITLE_MAX}",
                )

    def authentication(self) -> None:
        """Meta fixes the authentication format: the code, an optional security line and expiry, a copy button."""
        template = self.template
        if template.header is not None:
            self.reading.error(self.front.keys[("header",)], "authentication templates have no header or media")
        if template.footer is not None:
            self.reading.error(
                self.front.keys[("footer",)], "authentication footers are Meta's; set code_expiration_minutes instead"
            )
        for position, link in self.search(_matches(LINK)):
            self.reading.error(position, f"authentication templates may not contain links ({link!r})")
        for position, emoji in self.search(_emoji):
            self.reading.error(position, f"authentication templates may not contain emoji ({emoji!r})")
        for index, button in enumerate(template.buttons):
            if button.type != "copy_code":
                self.reading.error(
                    self.front.at("buttons", index), "authentication templates take one copy_code button only"
                )
        if len(template.buttons) > 1:
            self.reading.error(self.front.at("buttons"), "authentication templates take one copy_code button only")
        self.authentication_code()

    def authentication_code(self) -> None:
        others = [v for v in self.template.variables if v != AUTH_VARIABLE]
        if others or AUTH_VARIABLE not in self.template.variables:
            self.reading.error(
                (self.template.body_line, 1),
                f"an authentication template's only variable is {{{{ {AUTH_VARIABLE} }}}}"
                + (f"; found {', '.join(others)}" if others else ""),
            )
        code = self.template.examples.get(AUTH_VARIABLE)
        if isinstance(code, str) and len(code) > AUTH_CODE_MAX:
            self.reading.error(
                self.front.at("examples", AUTH_VARIABLE),
                f"example code is {len(code)} characters; Meta allows at most {AUTH_CODE_MAX}",
            )

    def promotional(self) -> None:
        found = list(self.search(_matches(PROMOTIONAL)))
        if found:
            words = ", ".join(dict.fromkeys(repr(word.lower()) for _, word in found))
            self.reading.warning(
                found[0][0], f"utility template reads as promotional ({words}); Meta re-categorises it as marketing"
            )


def _emoji(text: str) -> Iterator[tuple[int, str]]:
    """Emoji by Unicode category: a regex of code-point ranges would miss new ones and catch accents."""
    for index, char in enumerate(text):
        if unicodedata.category(char) == "So" or 0x1F000 <= ord(char) <= 0x1FAFF or ord(char) == 0xFE0F:
            yield index, char


def _matches(pattern: re.Pattern[str]) -> Finder:
    def find(text: str) -> Iterator[tuple[int, str]]:
        return ((m.start(), m.group()) for m in pattern.finditer(text))

    return find


def _label(path: KeyPath) -> str:
    return "the footer" if path == ("footer",) else f"button {int(path[1]) + 1} text"
