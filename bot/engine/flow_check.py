"""`bot check` for flows: references, exits, slots and WhatsApp's limits, across every flow at once.

It runs on what `bot.engine.flow_file` read, so each finding points at the line and column of the value at
fault. Errors are what would break a conversation or be refused by WhatsApp; warnings are what a
customer would likely trip over (a step nobody reaches, an exit left to the engine's default).

Why one module of about 510 lines: one checker walks every step once, and its rules share the flow, its
positions, the context of other flows and templates, and the list of problems; apart, each would need them all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateSyntaxError, nodes

from bot.engine.endpoint import FILE_NAME as ENDPOINTS_FILE
from bot.engine.expression import ExpressionError, compile_expression
from bot.engine.flow import (
    BODY_TEXT,
    BUTTON_TITLE,
    CAPTION_MAX,
    FOOTER_TEXT,
    HEADER_TEXT,
    MAX_BUTTONS,
    ROW_DESCRIPTION,
    ROW_TITLE,
    Act,
    AnyStep,
    Ask,
    Branch,
    Call,
    Choose,
    End,
    Flow,
    Form,
    Handoff,
    Header,
    Http,
    Link,
    Media,
    RequestLocation,
    Say,
    Text,
    Verify,
    WaitingStep,
)
from bot.engine.flow_file import LocatedFlow
from bot.engine.match import collisions
from bot.errors import MediaRefused
from bot.message_templates.library import TemplateLibrary, read_library
from bot.message_templates.template_file import environment, variables_in
from bot.whatsapp.media import check_media_file
from bot.yaml_file import KeyPath, Position, Problem, Severity, did_you_mean

OPTION_ID = 200  # a list row id's limit (a reply button's is 256); belongs with the limits in bot.engine.flow
BUILT_IN_SLOTS = frozenset({"contact", "error"})  # `error`: set by the engine when an act step fails
VERIFY_SLOTS = frozenset({"verified", "verified_at"})


@dataclass(frozen=True)
class _Context:
    """What a flow is checked against: the other flows, the templates and the registered names."""

    flows: Mapping[str, Flow]
    broken: frozenset[str]  # flows whose files did not read; calls to them are not reported again
    templates: Mapping[str, frozenset[str]]  # template name → its variables in every language
    actions: Collection[str]
    validators: Collection[str]
    endpoints: Collection[str] | None  # None: the endpoints file did not read, so calls are not reported
    slots: Mapping[str, frozenset[str]]  # flow name → the slots it may read
    may_be_empty: Mapping[str, frozenset[str]]  # action → the fields of its result that may be empty (None)


def check_flows(
    flows: Mapping[str, Flow],
    problems_so_far: Iterable[Problem],
    *,
    templates: TemplateLibrary,
    actions: Collection[str],
    validators: Collection[str],
    endpoints: Collection[str] | None = (),
    may_be_empty: Mapping[str, frozenset[str]] | None = None,
) -> list[Problem]:
    """The problems so far (from reading) and every new one, in file and line order.

    `may_be_empty` names, by action, the fields of its result that may be empty: a text printing one
    unguarded prints nothing there, and gets a warning.
    """
    found = list(problems_so_far)
    variables: dict[str, frozenset[str]] = {}
    for template in templates:
        variables[template.name] = variables.get(template.name, frozenset()) | set(template.variables)
    context = _Context(
        flows=flows,
        broken=frozenset(p.path.name.removesuffix(".yaml") for p in found if p.severity == "error"),
        templates=variables,
        actions=actions,
        validators=validators,
        endpoints=endpoints,
        slots=_readable_slots(flows),
        may_be_empty=may_be_empty or {},
    )
    served: dict[str, Flow] = {}
    for flow in flows.values():
        found += _Checker(flow, context).run()
        other = served.setdefault(flow.intent, flow) if flow.intent else flow
        if other is not flow:
            where = flow.positions.get(("intent",)) if isinstance(flow, LocatedFlow) else None
            line, column = (where.line, where.column) if where else (1, 1)
            message = f"intent {flow.intent!r} is already served by flow {other.name!r}; one flow per intent"
            found.append(Problem(Path(flow.path), line, column, "error", message))
    return sorted(found, key=lambda p: (str(p.path), p.line, p.column))


def templates_for_check(root: Path) -> TemplateLibrary:
    """Every template that could be read, even when the folder has errors, so flows are checked against them.

    `TemplateLibrary.load` refuses a folder with any error, which would turn one broken template into
    an "unknown template" for every flow that uses any.
    """
    return read_library(root)[0]


def slots_set(flow: Flow) -> frozenset[str]:
    """The slots a flow's own steps fill: answers, choices, action results and a verification's outcome."""
    found: set[str] = set()
    for step in flow.steps.values():
        if isinstance(step, Form):
            found |= set(step.fields)
        elif isinstance(step, WaitingStep) and step.slot:
            found.add(step.slot)
        elif isinstance(step, Act | Http) and step.result:
            found.add(step.result)
        elif isinstance(step, Verify):
            found |= VERIFY_SLOTS
    return frozenset(found)


def _readable_slots(flows: Mapping[str, Flow]) -> dict[str, frozenset[str]]:
    """A flow reads its own slots and those of every flow linked to it by `call`, either way.

    Slots live in the session, so a called flow sees its caller's and the caller sees what it set.
    """
    links: dict[str, set[str]] = {name: set() for name in flows}
    for name, flow in flows.items():
        for step in flow.steps.values():
            if isinstance(step, Call) and step.flow in flows:
                links[name].add(step.flow)
                links[step.flow].add(name)
    readable: dict[str, frozenset[str]] = {}
    for name in flows:
        family, todo = {name}, [name]
        while todo:
            for other in links[todo.pop()] - family:
                family.add(other)
                todo.append(other)
        readable[name] = BUILT_IN_SLOTS.union(*(slots_set(flows[member]) for member in family))
    return readable


def _suggest(word: str, candidates: Iterable[str]) -> str:
    hint = did_you_mean(word, candidates)
    return f"; {hint}" if hint else ""


class _Checker:
    """One flow's findings."""

    def __init__(self, flow: Flow, context: _Context) -> None:
        self.flow = flow
        self.context = context
        self.positions = flow.positions if isinstance(flow, LocatedFlow) else {}
        self.jinja = environment()
        self.problems: list[Problem] = []

    def run(self) -> list[Problem]:
        if self.flow.start not in self.flow.steps:
            where = self.positions.get(("start",), Position(1, 1))
            self.report("error", where, f"unknown step {self.flow.start!r}{_suggest(self.flow.start, self.flow.steps)}")
        for step in self.flow.steps.values():
            self.check_targets(step)
            self.check_exits(step)
            self.check_names(step)
            self.check_texts(step)
            self.check_empty(step)
            self.check_slots(step)
            if isinstance(step, Choose):
                self.check_choose(step)
            if isinstance(step, Say) and step.media is not None:
                self.check_media(step, step.media)
            if isinstance(step, Choose | Link | RequestLocation):
                self.check_interactive(step)
        self.check_reachable()
        return self.problems

    def at(self, step: AnyStep, *path: str | int) -> Position:
        return self.positions.get(("steps", step.id, *path)) or step.position

    def report(self, severity: Severity, where: Position, message: str) -> None:
        self.problems.append(Problem(Path(self.flow.path), where.line, where.column, severity, message))

    # --- structure ----------------------------------------------------------------------------------

    def check_targets(self, step: AnyStep) -> None:
        for name, target in self.flow.targets(step):
            if target not in self.flow.steps:
                where = self.at(step, *_target_path(step, name))
                self.report("error", where, f"unknown step {target!r}{_suggest(target, self.flow.steps)}")

    def check_reachable(self) -> None:
        if self.flow.start not in self.flow.steps:
            return
        reached, todo = {self.flow.start}, [self.flow.start]
        while todo:
            for _, target in self.flow.targets(self.flow.steps[todo.pop()]):
                if target in self.flow.steps and target not in reached:
                    reached.add(target)
                    todo.append(target)
        for step in self.flow.steps.values():
            if step.id not in reached:
                self.report("warning", step.position, f"step {step.id!r} is never reached from {self.flow.start!r}")

    def check_exits(self, step: AnyStep) -> None:
        """Every way out of a step is the flow's own choice, not the engine's default."""
        if isinstance(step, Branch) and step.otherwise is None:
            self.report("error", step.position, "branch has no 'otherwise' for when no case matches")
        elif isinstance(step, Act | Http) and step.on_error is None:
            kind = type(step).__name__.lower()
            self.report("warning", step.position, f"{kind} has no 'on_error'; a failure apologises and ends the flow")
        elif isinstance(step, WaitingStep | Verify):
            exit_key, exit_to = (
                ("on_failure", step.on_failure) if isinstance(step, Verify) else ("on_exhausted", step.on_exhausted)
            )
            if exit_to is None:
                tries = f"{step.max_attempts} failed {'try' if step.max_attempts == 1 else 'tries'}"
                message = f"{type(step).__name__.lower()} has no {exit_key!r}; the flow ends after {tries}"
                self.report("warning", step.position, message)
        if isinstance(step, WaitingStep) and step.on_timeout is not None and step.timeout is None:
            self.report("warning", self.at(step, "on_timeout"), "'on_timeout' without a 'timeout' never happens")

    def check_names(self, step: AnyStep) -> None:
        """Flows, actions and custom validators a step names exist."""
        context = self.context
        if isinstance(step, Call) and step.flow not in context.flows and step.flow not in context.broken:
            self.report(
                "error", self.at(step, "call"), f"unknown flow {step.flow!r}{_suggest(step.flow, context.flows)}"
            )
        if isinstance(step, Act) and step.action not in context.actions:
            hint = _suggest(step.action, context.actions)
            self.report("error", self.at(step, "act"), f"unknown action {step.action!r}{hint}")
        if isinstance(step, Http) and context.endpoints is not None and step.endpoint not in context.endpoints:
            hint = _suggest(step.endpoint, context.endpoints)
            known = "" if context.endpoints else f" (no endpoints declared in {ENDPOINTS_FILE})"
            self.report("error", self.at(step, "http"), f"unknown endpoint {step.endpoint!r}{hint}{known}")
        if isinstance(step, Ask) and step.validator.kind == "custom":
            name = step.validator.name or ""
            if name not in context.validators:
                hint = _suggest(name, context.validators)
                self.report("error", self.at(step, "validate", "custom"), f"unknown validator {name!r}{hint}")

    # --- texts and slots ----------------------------------------------------------------------------

    def check_texts(self, step: AnyStep) -> None:
        for key, text in _texts(step):
            for language, source in text.sources:
                if len(source) > BODY_TEXT:
                    where = self.at(step, key, language) if language else self.at(step, key)
                    self.report("error", where, f"text is {len(source)} characters; at most {BODY_TEXT}")
            if text.template is not None:
                self.check_template(step, key, text.template, text.values)

    def check_empty(self, step: AnyStep) -> None:
        """A text printing a result's field that may be empty, outside an `{% if %}` on it and without `default`."""
        empty = {
            (other.result, field)
            for other in self.flow.steps.values()
            if isinstance(other, Act) and other.result
            for field in self.context.may_be_empty.get(other.action, ())
        }
        if not empty:
            return
        for key, text in _texts(step):
            for language, source in text.sources:
                try:
                    tree = self.jinja.parse(source)
                except TemplateSyntaxError:
                    continue  # reported by check_slots
                printed = dict.fromkeys(f"{r}.{f}" for r, f in _unguarded(tree) if (r, f) in empty)
                if printed:
                    where = self.at(step, key, language) if language else self.at(step, key)
                    names = ", ".join(printed)
                    message = (
                        f"{names} may be empty (the action leaves it so) and would print nothing here; "
                        "guard with {% if … %}…{% endif %} or add | default(…)"
                    )
                    self.report("warning", where, message)

    def check_template(self, step: AnyStep, key: str, name: str, values: Mapping[str, str]) -> None:
        variables = self.context.templates.get(name)
        where = self.at(step, key, "template")
        if variables is None:
            self.report("error", where, f"unknown template {name!r}{_suggest(name, self.context.templates)}")
            return
        missing = [v for v in sorted(variables) if v not in values]
        if missing:
            self.report("error", where, f"template {name!r} needs values for: {', '.join(missing)}")
        for value in values:
            if value not in variables:
                self.report("warning", self.at(step, key, "values", value), f"template {name!r} has no {value!r}")

    def check_slots(self, step: AnyStep) -> None:
        """Slots read by texts, arguments and conditions are set by some step (or are built in)."""
        readable = self.context.slots.get(self.flow.name, BUILT_IN_SLOTS)
        for path, names in self.names_read(step):
            for name in names:
                if name not in readable:
                    hint = _suggest(name, readable - BUILT_IN_SLOTS)
                    self.report("warning", self.at(step, *path), f"slot {name!r} is used but no step sets it{hint}")

    def names_read(self, step: AnyStep) -> Iterator[tuple[KeyPath, list[str]]]:
        """The names each Jinja source and condition of `step` reads; Jinja syntax errors are reported."""
        for path, source in _jinja_sources(step):
            try:
                yield path, variables_in(self.jinja.parse(source))
            except TemplateSyntaxError as exc:
                self.report("error", self.at(step, *path), f"Jinja syntax error: {exc.message}")
        if isinstance(step, Branch):
            for index, case in enumerate(step.cases):
                try:
                    references = compile_expression(case.when).references
                except ExpressionError as exc:
                    self.report("error", self.at(step, "branch", index, "if"), exc.message)
                    continue
                yield ("branch", index, "if"), list(dict.fromkeys(name for name, _ in references))
        if isinstance(step, Choose) and step.options_from:
            yield ("options_from",), [step.options_from]

    # --- WhatsApp's limits --------------------------------------------------------------------------

    def check_choose(self, step: Choose) -> None:
        """Up to 3 options may show as reply buttons, more as list rows; each has its own limits."""
        buttons = len(step.options) <= MAX_BUTTONS
        title_limit, shown = (BUTTON_TITLE, "on a reply button") if buttons else (ROW_TITLE, "in a list")
        for index, option in enumerate(step.options):
            if len(option.title) > title_limit:
                message = f"option {option.id!r} title is {len(option.title)} characters; at most {title_limit} {shown}"
                self.report("error", self.at(step, "options", index, "title"), message)
            length = len(option.description or "")
            if not buttons and length > ROW_DESCRIPTION:
                message = f"option {option.id!r} description is {length} characters; at most {ROW_DESCRIPTION}"
                self.report("error", self.at(step, "options", index, "description"), message)
            if buttons and length and step.options_from is None:
                message = f"option {option.id!r} description is not shown: 3 options or fewer are reply buttons"
                self.report("warning", self.at(step, "options", index, "description"), message)
            if len(option.id) > OPTION_ID:
                message = f"option id is {len(option.id)} characters; at most {OPTION_ID}"
                self.report("error", self.at(step, "options", index, "id"), message)
        self.check_synonyms(step)
        if (not buttons or step.options_from) and len(step.button) > BUTTON_TITLE:
            message = f"list button {step.button!r} is {len(step.button)} characters; at most {BUTTON_TITLE}"
            self.report("error", self.at(step, "button"), message)

    def check_media(self, step: Say, media: Media) -> None:
        """A file to send is in the flows folder, of a type and size Meta takes; a caption fits in 1024."""
        for language, source in media.caption.sources if media.caption else ():
            if len(source) > CAPTION_MAX:
                where = self.at(step, "say", "caption", *([language] if language else []))
                self.report("error", where, f"caption is {len(source)} characters; at most {CAPTION_MAX}")
        where = self.at(step, "say", media.kind)
        try:
            if media.file is not None:
                path = self.media_file(media.file)
                check_media_file(media.kind, path.name, path.stat().st_size)
            elif "." in (name := (media.link or "").split("?")[0].split("#")[0].rsplit("/", 1)[-1]) and "{" not in name:
                check_media_file(media.kind, name, None)  # a link is checked when its name shows its type
        except MediaRefused as exc:
            self.report("error", where, exc.message)

    def media_file(self, name: str) -> Path:
        """A file `say` sends, inside the folder of the flow that names it; `MediaRefused` when it is not there."""
        folder = Path(self.flow.path).parent.resolve()
        path = (folder / name).resolve()
        if not path.is_relative_to(folder):
            raise MediaRefused(f"{name!r} is outside the flows folder; keep the files to send in it (e.g. media/)")
        if not path.is_file():
            raise MediaRefused(f"no file {name!r} in the flows folder")
        return path

    def check_interactive(self, step: Choose | Link | RequestLocation) -> None:
        """Meta's limits on a header, a footer, a link button's title and URL; these texts are inline only.

        https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-cta-url-messages
        """
        kind = "link" if isinstance(step, Link) else "request_location" if isinstance(step, RequestLocation) else None
        text = step.text if isinstance(step, Link) else step.prompt
        if kind is not None and text.template is not None:
            self.report("error", self.at(step, kind), f"a {kind} step's text is written inline, not as a template")
        if isinstance(step, RequestLocation):
            return
        if step.header is not None:
            self.check_header(step, step.header)
        footer = step.footer
        if footer is not None and len(footer) > FOOTER_TEXT:
            message = f"footer is {len(footer)} characters; at most {FOOTER_TEXT}"
            self.report("error", self.at(step, "footer"), message)
        if isinstance(step, Link):
            if len(step.button) > BUTTON_TITLE:
                message = f"button {step.button!r} is {len(step.button)} characters; at most {BUTTON_TITLE}"
                self.report("error", self.at(step, "button"), message)
            if not step.url.startswith(("https://", "{{")):
                self.report("error", self.at(step, "url"), f"url {step.url!r} must start with https://")

    def check_header(self, step: Choose | Link, header: Header) -> None:
        if header.text is not None and "{{" not in header.text and len(header.text) > HEADER_TEXT:
            message = f"header is {len(header.text)} characters; at most {HEADER_TEXT}"
            self.report("error", self.at(step, "header"), message)
        if header.media is None:
            return
        source = header.source or ""
        if "{{" not in source and not (source.startswith(("https://", "http://")) or source.isdigit()):
            message = f"the header's {header.media} must be an http(s) URL or a media id"
            self.report("error", self.at(step, "header", header.media), message)
        if isinstance(step, Choose) and (len(step.options) > MAX_BUTTONS or step.options_from):
            message = f"an {header.media} header needs reply buttons: 3 options or fewer, and no options_from"
            self.report("error", self.at(step, "header"), message)

    def check_synonyms(self, step: Choose) -> None:
        """Two options of one menu answering to the same word (title, id or synonym, folded) is ambiguous."""
        index = {option.id: i for i, option in enumerate(step.options)}
        for first, second, word in collisions(step.options):
            i = index[second.id]
            where = self.positions.get(("steps", step.id, "options", i, "synonyms")) or self.at(step, "options", i)
            message = f"option {second.id!r} and option {first.id!r} both answer to {word!r}; keep it on one"
            self.report("error", where, message)


def _unguarded(node: nodes.Node, guarded: frozenset[tuple[str, str]] = frozenset()) -> Iterator[tuple[str, str]]:
    """Each `{{ name.field }}` printed as it is (no filter), outside an `{% if %}` whose test reads it."""
    if isinstance(node, nodes.If):
        reads = [node.test, *node.test.find_all(nodes.Getattr)]
        tested = guarded | {
            (g.node.name, g.attr) for g in reads if isinstance(g, nodes.Getattr) and isinstance(g.node, nodes.Name)
        }
        for child in node.body:
            yield from _unguarded(child, tested)
        for child in [*node.elif_, *node.else_]:
            yield from _unguarded(child, guarded)
        return
    if isinstance(node, nodes.Output):
        for child in node.nodes:
            if isinstance(child, nodes.Getattr) and isinstance(child.node, nodes.Name):
                field = (child.node.name, child.attr)
                if field not in guarded:
                    yield field
        return
    for child in node.iter_child_nodes():
        yield from _unguarded(child, guarded)


def _texts(step: AnyStep) -> list[tuple[str, Text]]:
    """Each text a step says, with the key it was written under."""
    found: list[tuple[str, Text | None]] = []
    if isinstance(step, Say):
        found.append(("say", step.text))
    elif isinstance(step, Ask | Choose | Form):
        found += [(type(step).__name__.lower(), step.prompt), ("reprompt", step.reprompt)]
    elif isinstance(step, RequestLocation):
        found += [("request_location", step.prompt), ("reprompt", step.reprompt)]
    elif isinstance(step, Link):
        found.append(("link", step.text))
    elif isinstance(step, Handoff | End):
        found.append((type(step).__name__.lower(), step.text))
    elif isinstance(step, Verify):
        found.append(("prompt", step.prompt))
    return [(key, text) for key, text in found if text is not None]


def _jinja_sources(step: AnyStep) -> list[tuple[KeyPath, str]]:
    """Every Jinja source of a step: inline texts, template values and action arguments."""
    sources: list[tuple[KeyPath, str]] = []
    for key, text in _texts(step):
        sources += [((key, language) if language else (key,), source) for language, source in text.sources]
        sources += [((key, "values", name), value) for name, value in text.values.items()]
    if isinstance(step, Say) and step.media is not None:
        media = step.media
        caption = media.caption.sources if media.caption else ()
        sources += [(("say", "caption", *([lang] if lang else [])), source) for lang, source in caption]
        sources += [(("say", media.kind), media.link)] if media.link else []
    if isinstance(step, Act):
        sources += [(("args", name), value) for name, value in step.args.items()]
    if isinstance(step, Form):
        sources += [(("data", name), value) for name, value in step.data.items()]
    if isinstance(step, Http):
        sources += [(("query", name), value) for name, value in step.query.items()]
        sources += [(("body", name), value) for name, value in (step.body or {}).items()]
    if isinstance(step, Link):
        sources.append((("url",), step.url))
    header = step.header if isinstance(step, Choose | Link) else None
    if header is not None and header.text is not None:
        sources.append((("header",), header.text))
    if header is not None and header.media is not None:
        sources.append((("header", header.media), header.source or ""))
        sources += [(("header", "filename"), header.filename)] if header.filename else []
    return sources


def _target_path(step: AnyStep, name: str) -> KeyPath:
    """Where a target named by `Flow.targets` was written: ``options.<id>.next``, ``branch[i].goto``, a key."""
    if isinstance(step, Choose) and name.startswith("options.") and name.endswith(".next"):
        option_id = name.removeprefix("options.").removesuffix(".next")
        index = next((i for i, o in enumerate(step.options) if o.id == option_id), 0)
        return ("options", index, "next")
    if isinstance(step, Branch) and name.startswith("branch["):
        return ("branch", int(name[len("branch[") : name.index("]")]), "goto")
    return (name,)
