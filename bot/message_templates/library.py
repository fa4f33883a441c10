"""Message templates as files: the one reader of `templates/`, its checker, renderer and exporter.

Each file is one message in one language (``templates/<category>/<name>.<language>.md.j2``): a YAML front
matter block, then a Jinja body. Reading and rules live in `template_file` and `rules` beside this module;
this module is the public face the CLI, the sender and the sandbox use; `export` writes Meta's JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from jinja2 import Template, TemplateError, UndefinedError, nodes
from jinja2.sandbox import SandboxedEnvironment

from bot.errors import NotFound, ValidationError
from bot.message_templates.rules import AUTH_VARIABLE, TEMPLATE_BODY_MAX, Checker
from bot.message_templates.template_file import (
    COPY_CODE_TEXT,
    Button,
    MessageTemplate,
    Reading,
    environment,
    read_template,
    template_files,
    variables_in,
)
from bot.whatsapp.message_body import HEADER_MAX, rendered_message
from bot.whatsapp.rendered_template import HeaderMedia, Parameter, RenderedButton, RenderedTemplate
from bot.yaml_file import Problem

__all__ = [
    "DEFAULT_LANGUAGE",
    "Button",
    "MessageTemplate",
    "Problem",
    "RenderedTemplate",
    "TemplateLibrary",
    "Templates",
    "check",
    "render",
    "to_cloud_api",
]

DEFAULT_LANGUAGE = "en"
# Meta's fixed authentication texts (English; Meta translates them for other languages).
# https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/authentication-templates/
AUTHENTICATION_BODY = "{code} is your verification code."
SECURITY_RECOMMENDATION = "For your security, do not share this code."
EXPIRY_FOOTER = "This code expires in {minutes} minutes."


# --- reading and checking ---------------------------------------------------------------------------


def _read_all(root: Path, env: SandboxedEnvironment) -> list[Reading]:
    readings = []
    for path in template_files(root):
        reading, asts = read_template(path, env)
        if reading.template is not None and reading.front is not None:
            Checker(reading.template, asts, reading.front, reading).run(env)
            _check_folder(root, reading.template, reading)
        readings.append(reading)
    _check_duplicates(readings)
    return readings


def _check_folder(root: Path, template: MessageTemplate, reading: Reading) -> None:
    """Files sit under their category's folder (subfolders below it are free) so people find them."""
    folder = template.path.relative_to(root).parts[0]
    if folder != template.category:
        position = reading.front.at("category") if reading.front else (1, 1)
        message = f"a {template.category} template belongs in the {template.category}/ folder, not {folder}/"
        reading.error(position, message)


def _check_duplicates(readings: Iterable[Reading]) -> None:
    """Two files for one (name, language) would make sending depend on the order files are read."""
    first: dict[tuple[str, str], Path] = {}
    for reading in readings:
        template = reading.template
        if template is None:
            continue
        key = (template.name, template.language)
        if key in first:
            position = reading.front.at("name") if reading.front else (1, 1)
            reading.error(position, f"{template.name!r} in {template.language!r} is also defined in {first[key]}")
        else:
            first[key] = template.path


def check(root: Path) -> list[Problem]:
    """Every problem in every template under `root`, in file order; an empty list means all is well."""
    return read_library(root)[1]


def read_library(root: Path) -> tuple[TemplateLibrary, list[Problem]]:
    """Every template under `root` that could be read, and every problem in the folder (`check`'s rules)."""
    if not root.is_dir():
        return TemplateLibrary([]), [Problem(root, 1, 1, "error", "the templates folder does not exist")]
    readings = _read_all(root, environment())
    library = TemplateLibrary(r.template for r in readings if r.template is not None)
    return library, [problem for reading in readings for problem in reading.problems]


class Templates(Protocol):
    """What senders need of the templates: one by name and language, and all of them.

    A `TemplateLibrary` is one; `bot.inbound.content.LiveTemplates` is the library currently loaded, which hot
    reload replaces while the holders keep the same object.
    """

    def get(self, name: str, language: str | None = None) -> MessageTemplate: ...

    def __iter__(self) -> Iterator[MessageTemplate]: ...


class TemplateLibrary:
    """All templates of a folder, looked up by name and language with a fallback to the default language."""

    def __init__(self, templates: Iterable[MessageTemplate], default_language: str = DEFAULT_LANGUAGE) -> None:
        self.default_language = default_language
        self._templates = {(t.name, t.language): t for t in templates}

    @classmethod
    def load(cls, root: Path, default_language: str = DEFAULT_LANGUAGE) -> TemplateLibrary:
        """Read and check `root`; any error refuses the whole library, so nothing half-checked is sent."""
        readings = _read_all(root, environment())
        errors = [str(p) for r in readings for p in r.problems if p.severity == "error"]
        if errors:
            raise ValidationError("templates have errors:\n" + "\n".join(errors))
        return cls((r.template for r in readings if r.template is not None), default_language)

    def __iter__(self) -> Iterator[MessageTemplate]:
        return iter(self._templates.values())

    def __len__(self) -> int:
        return len(self._templates)

    def get(self, name: str, language: str | None = None) -> MessageTemplate:
        """The template in `language`, else its base language (``pt_BR`` → ``pt``), else the default."""
        for candidate in self.fallbacks(language or self.default_language):
            template = self._templates.get((name, candidate))
            if template is not None:
                return template
        raise NotFound(f"no template {name!r} in {language!r} or its fallbacks")

    def fallbacks(self, language: str) -> list[str]:
        """The languages tried for `language`, in order, without repeats."""
        return list(dict.fromkeys([language, language.split("_")[0], self.default_language]))


# --- rendering --------------------------------------------------------------------------------------


def _require(template: MessageTemplate, values: Mapping[str, Any]) -> None:
    """Meta needs every parameter; a service text needs only what its branches use, which Jinja checks."""
    if not template.meta_bound:
        return
    missing = [name for name in template.variables if name not in values]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        raise ValidationError(f"{template.path}: no value for variable {names}")


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    """A text compiled once: a campaign renders the same template once per recipient."""
    return environment().from_string(source)


@lru_cache(maxsize=1024)
def _plain(source: str) -> tuple[tuple[str, bool], ...] | None:
    """A text of literal parts and bare ``{{ name }}``s, all a Meta template holds, as (part, is_name); else None.

    Joining the parts gives what Jinja renders at a fifth of the cost (Jinja builds a context per call),
    and a campaign renders its template once per recipient.
    """
    parts: list[tuple[str, bool]] = []
    for output in environment().parse(source).body:
        if not isinstance(output, nodes.Output):
            return None
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append((child.data, False))
            elif isinstance(child, nodes.Name):
                parts.append((child.name, True))
            else:
                return None
    return tuple(parts)


def _render_text(template: MessageTemplate, source: str, values: Mapping[str, Any]) -> str:
    parts = _plain(source)
    if parts is not None and all(part in values for part, is_name in parts if is_name):
        return "".join(str(values[part]) if is_name else part for part, is_name in parts).strip()
    try:
        return _compiled(source).render(values).strip()
    except UndefinedError as exc:
        raise ValidationError(f"{template.path}: missing variable: {exc.message}") from exc
    except TemplateError as exc:
        raise ValidationError(f"{template.path}: cannot render: {exc}") from exc


def render(
    template: MessageTemplate, values: Mapping[str, Any], *, media: HeaderMedia | None = None
) -> RenderedTemplate:
    """Fill a template in once: what the customer reads, and the parameters the Cloud API needs.

    A missing value is a `ValidationError` naming the file and the variable. Meta's rules for parameter
    texts are checked by `to_cloud_api`, before sending, so a preview shows any example as it is; a file
    or place header is checked here, since it has no text to preview. `media` is that header when known.
    """
    _require(template, values)
    return _render(template, values, media)


def _render(template: MessageTemplate, values: Mapping[str, Any], media: HeaderMedia | None = None) -> RenderedTemplate:
    """`media` stands in for the header's file or place when it is known already (a send body read back)."""
    if template.category == "authentication":
        return _authentication_rendered(template, str(values[AUTH_VARIABLE]))
    text = _render_text(template, template.body, values)
    header = _render_text(template, template.header, values) if template.header else None
    footer = _render_text(template, template.footer, values) if template.footer else None
    buttons = tuple(_button(template, b, values) for b in template.buttons)
    if not template.meta_bound:  # an in-window reply goes as text or reply buttons: no parameters
        return RenderedTemplate(template.name, template.language, template.category, text, header, footer, buttons)
    return RenderedTemplate(
        template.name,
        template.language,
        template.category,
        text,
        header,
        footer,
        buttons,
        header_parameters=_named(template.header, values),
        body_parameters=_named(template.body, values),
        header_media=media or header_media(template, values),
    )


def header_media(template: MessageTemplate, values: Mapping[str, Any]) -> HeaderMedia | None:
    """The template's file or place header filled in and checked; a `ValidationError` names what is wrong."""
    source = template.header_media
    if source is None:
        return None
    filled = {name: _render_text(template, text, values) for name, text in source.fields.items()}
    try:
        return HeaderMedia.read(source.format, filled)
    except ValidationError as exc:
        raise ValidationError(f"{template.path}: {exc.message}") from None


def _button(template: MessageTemplate, button: Button, values: Mapping[str, Any]) -> RenderedButton:
    """A URL filled in; a Meta template's URL button also sends its variable as the URL's suffix."""
    url = _render_text(template, button.url, values) if button.url else button.url
    suffix = button.url if template.meta_bound and button.type == "url" else None
    parameters = tuple(p.text for p in _named(suffix, values))
    return RenderedButton(button.type, button.text, button.payload, url, parameters)


def _authentication_rendered(template: MessageTemplate, code: str) -> RenderedTemplate:
    """Meta's fixed wording, whatever the file's body says, with the security line and expiry footer it adds.

    Meta fixes the text, so the code is its one positional parameter, in the body and the copy-code button.
    """
    text = AUTHENTICATION_BODY.format(code=code)
    if template.security_recommendation:
        text = f"{text} {SECURITY_RECOMMENDATION}"
    minutes = template.code_expiration_minutes
    footer = EXPIRY_FOOTER.format(minutes=minutes) if minutes else None
    buttons = tuple(
        RenderedButton(b.type, b.text, b.payload, b.url, (code,) if b.type == "copy_code" else ())
        for b in template.buttons or (Button("copy_code", COPY_CODE_TEXT),)
    )
    return RenderedTemplate(
        template.name,
        template.language,
        template.category,
        text,
        None,
        footer,
        buttons,
        body_parameters=(Parameter(code),),
    )


def _named(source: str | None, values: Mapping[str, Any]) -> tuple[Parameter, ...]:
    """The variables of one component, in order of appearance, as Meta's named parameters."""
    if not source:
        return ()
    return tuple(Parameter(str(values[name]), name) for name in component_variables(source))


@lru_cache(maxsize=1024)
def component_variables(source: str) -> tuple[str, ...]:
    """A component's variables in order of appearance, parsed once per text: a campaign asks once per recipient."""
    return tuple(variables_in(environment().parse(source)))


def _sent_variables(template: MessageTemplate) -> Iterator[str]:
    """The variables that travel as Cloud API parameters, header first, then body, then URL buttons."""
    if not template.meta_bound:
        return
    if template.category == "authentication":
        yield AUTH_VARIABLE
        return
    for source in (template.header, template.body, *(b.url for b in template.buttons if b.type == "url")):
        yield from component_variables(source) if source else ()


def _check_parameters(template: MessageTemplate, values: Mapping[str, Any]) -> None:
    """Meta rejects empty parameters and ones with newlines or tabs; say so before sending."""
    for name in _sent_variables(template):
        value = str(values[name])
        if not value.strip() or "\n" in value or "\t" in value:
            raise ValidationError(
                f"{template.path}: value for {name!r} must be non-empty text without newlines or tabs"
            )


# Unicode's categories Cc (control characters, NUL among them) and Cs (surrogates), whole: one C-speed search
# instead of a category look-up per character (`POST /api/notifications` spent a tenth of its CPU there).
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _check_fits(template: MessageTemplate, values: Mapping[str, Any], rendered: RenderedTemplate) -> None:
    """What Meta would refuse once these values are in: a control character (NUL among them) or half a
    surrogate pair in a value, a body over 1,024 characters or a text header over 60."""
    for name in _sent_variables(template):
        if _CONTROL_OR_SURROGATE.search(str(values[name])):
            raise ValidationError(f"value for {name!r} has a control character or half a surrogate pair")
    if not template.meta_bound:
        return
    if len(rendered.text) > TEMPLATE_BODY_MAX:
        raise ValidationError(
            f"with these values the body of {template.name!r} is {len(rendered.text)} characters; "
            f"Meta allows {TEMPLATE_BODY_MAX}"
        )
    if rendered.header is not None and len(rendered.header) > HEADER_MAX:
        raise ValidationError(
            f"with these values the header of {template.name!r} is {len(rendered.header)} characters; "
            f"Meta allows {HEADER_MAX}"
        )


def to_cloud_api(
    template: MessageTemplate, to: str, values: Mapping[str, Any], *, fits: bool = False
) -> dict[str, Any]:
    """The Cloud API send body for this template and these values: rendered once, then built by the wire side.

    Service templates are in-window replies, so `bot.whatsapp.message_body` sends them as text or reply buttons.
    With `fits`, where a caller hands the values in (`POST /api/notifications`), what Meta would refuse once
    they are in is a `ValidationError` now: a 100,000-character value is a 400 naming it, not a queued
    message Meta refuses later.
    """
    _require(template, values)
    _check_parameters(template, values)
    rendered = _render(template, values)
    if fits:
        _check_fits(template, values, rendered)
    return rendered_message(to, rendered)


TEMPLATES: web.AppKey[Templates] = web.AppKey("templates")  # the live library: what the content in use holds
