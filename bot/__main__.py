"""The `bot` command: reads settings, configures logging, and runs what was asked.

Why one module of about 600 lines: it is the command line's one table of subcommands and options, each
a few lines that hand over to the package that does the work; split, the options would be harder to find.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from bot.errors import BotError, ConfigError
from bot.log import configure_logging
from bot.loop import freeze_startup_heap, new_event_loop
from bot.settings import Settings, check_admin_token, load_settings, package_version


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _settings(args: argparse.Namespace) -> Settings:
    """The settings, with `--project DIR` as BOT_PROJECT_DIR; `--env-file` defaults to the project's `.env`."""
    project = getattr(args, "project", None)
    env_file = args.env_file or str(Path(project or ".") / ".env")
    return load_settings(env_file, **({"BOT_PROJECT_DIR": project} if project else {}))


def _prepare(args: argparse.Namespace) -> Settings:
    settings = _settings(args)
    configure_logging(level=settings.log_level, fmt=settings.log_format, secrets=settings.redactable())
    return settings


def init(args: argparse.Namespace) -> int:
    """Write a bot project of your own from the shipped examples: flows, templates, transcripts, .env.example."""
    from bot.devtools.project import init_project

    print(init_project(Path(args.dir), force=args.force).summary())
    return 0


def serve(args: argparse.Namespace) -> int:
    """Run the whole service: webhook, admin API, dispatcher, sender and scheduler (and the sandbox without Meta)."""
    from bot.app import create_app
    from bot.edge.intake import BACKLOG, SERVER_OPTIONS

    settings = _prepare(args)
    check_admin_token(settings)
    # The port first: one taken stops the run before a banner, a token, content or a worker exists.
    listening = _listen(args.host, args.port)
    if settings.sandbox and settings.api_url is None:
        settings = settings.with_api_url(f"http://{_loopback(args.host)}:{args.port}/sandbox")
    roles = {r.strip() for r in args.roles.split(",") if r.strip()}
    try:
        app = create_app(settings, roles=roles)
    except BaseException:
        listening.close()
        raise
    base = f"http://{_loopback(args.host)}:{args.port}"
    print(f"WhatsApp conversation service on {base}", flush=True)
    if settings.sandbox:
        print(f"  sandbox mode (no WHATSAPP_ACCESS_TOKEN): chat with the bot at {base}/sandbox", flush=True)
        print("  demo contacts, orders and appointments to chat as: run `bot demo` (once, any time)", flush=True)
        if settings.reload:
            print("  flows and templates take effect when saved (BOT_RELOAD=0 turns this off)", flush=True)
    print(f"  dashboard (sign in with the admin API token): {base}/dashboard", flush=True)
    if settings.quiet_hours:
        quiet = f"{settings.quiet_hours.start:%H:%M}-{settings.quiet_hours.end:%H:%M}"
        print(f"  utility and marketing messages wait out quiet hours {quiet} (BOT_QUIET_HOURS)", flush=True)
    if settings.generated_admin_token:
        print(f"  admin API token for this run (set BOT_ADMIN_TOKEN to fix it): {settings.admin_token}", flush=True)
    # The database drivers hand every statement to a thread and back; a shorter GIL switch interval
    # than the default 5 ms keeps those hand-offs from stalling behind the event loop (measured by
    # `bot bench webhook`: roughly +25% acknowledgements per second on SQLite).
    sys.setswitchinterval(0.0005)

    async def started(_: web.Application) -> None:
        freeze_startup_heap()

    app.on_startup.append(started)  # after the start-up contexts: database, flows, templates, client
    web.run_app(
        app, sock=listening, backlog=BACKLOG, access_log=None, print=None, loop=new_event_loop(), **SERVER_OPTIONS
    )
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound and listening, or a clear error when the address is taken or not ours."""
    from bot.edge.intake import BACKLOG

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=BACKLOG)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use; choose another with --port") from None
        raise ConfigError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None


def worker(args: argparse.Namespace) -> int:
    """Run the sender and the scheduler only (scale-out): no HTTP server, same database."""
    from bot.app import create_app

    roles = {r.strip() for r in args.roles.split(",") if r.strip()}
    if "web" in roles or not roles:
        raise ConfigError("`bot worker --roles` takes sender, scheduler or dispatcher; the web role is `bot serve`'s")
    settings = _prepare(args)
    if settings.sandbox:
        raise ConfigError("`bot worker` needs a real Graph API: set WHATSAPP_ACCESS_TOKEN (or run `bot serve`)")
    app = create_app(settings, roles=roles, migrate=False)

    async def run() -> None:
        runner = web.AppRunner(app)
        await runner.setup()  # runs the cleanup_ctx start-up half: database, client, sender, scheduler
        freeze_startup_heap()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print("worker running; Ctrl-C stops it", flush=True)
        await stop.wait()
        await runner.cleanup()

    with asyncio.Runner(loop_factory=new_event_loop) as loop_runner:
        loop_runner.run(run())
    return 0


def demo(args: argparse.Namespace) -> int:
    """Load demo contacts (with consent and tags), orders, appointments and accounts; nothing is sent."""
    from zoneinfo import ZoneInfo

    from bot.devtools.demo import chat_as, load_demo
    from bot.engine.business_hours import load_business
    from bot.inbound.content import BUSINESS_FILE
    from storage.repository import Repository

    settings = _prepare(args)
    business_file = settings.project_path("flows") / BUSINESS_FILE
    shop = load_business(business_file) if business_file.exists() else None

    async def run() -> str:
        repository = Repository.connect(settings.database_url)
        try:
            await repository.migrate(settings.phone_number_id)
            loaded = await load_demo(repository, business=shop, zone=ZoneInfo(settings.business_timezone))
        finally:
            await repository.close()
        lines = [
            f"demo data in {settings.database_url.split('://')[0]}: {loaded.contacts} new contacts, "
            f"{loaded.orders} orders, {loaded.appointments} appointments, {loaded.accounts} accounts",
            "chat as one of these numbers in the sandbox (`bot serve`, then /sandbox):",
            *chat_as(),
        ]
        return "\n".join(lines)

    print(asyncio.run(run()))
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    """Apply the database migrations (rows from before several numbers go to the default number)."""
    from bot.numbers.number import configured_numbers
    from storage.database import current_revision
    from storage.repository import Repository

    settings = _prepare(args)

    async def run() -> str | None:
        repository = Repository.connect(settings.database_url)
        try:
            await repository.migrate(configured_numbers(settings)[0][0].id)
            return await current_revision(repository.engine)
        finally:
            await repository.close()

    print(f"database at revision {asyncio.run(run())}")
    return 0


def check(args: argparse.Namespace) -> int:
    """Validate the settings, the message templates and the flows; problems as path:line:col; exit 1 on any error."""
    from bot.inbound.content import check_content
    from bot.numbers.number import numbers_file, read_numbers
    from bot.whatsapp.rate_card import read_rate_card

    settings = _prepare(args)
    mode = "sandbox" if settings.sandbox else "Meta Cloud API"
    print(f"settings ok: {mode}, database {settings.database_url.split('://')[0]}")
    errors = 0
    flows, templates = _folder(args.flows, settings, "flows"), _folder(args.templates, settings, "templates")
    sections = list(check_content(flows, templates).sections)
    sections.append(("rate card", read_rate_card(settings.rate_card)[1] if settings.rate_card else []))
    if numbers_file(settings).exists():
        names = {path.stem for path in flows.glob("*.yaml")}
        sections.append(("numbers", read_numbers(numbers_file(settings), names)[1]))
    if settings.endpoints_canned is not None:
        from bot.inbound.endpoint_call import read_canned

        sections.append(("canned answers", read_canned(settings.endpoints_canned)[1]))
    for what, problems in sections:
        for problem in problems:
            print(problem, file=sys.stderr if problem.severity == "error" else sys.stdout)
        found = sum(p.severity == "error" for p in problems)
        print(f"{what}: {found} error(s), {len(problems) - found} warning(s)")
        errors += found
    return 1 if errors else 0


def test(args: argparse.Namespace) -> int:
    """Run conversation transcripts offline on a virtual clock (default tests/transcripts/); exit 1 on any failure."""
    from bot.devtools.transcript import run_transcripts
    from bot.devtools.transcript_file import DEFAULT_FOLDER, transcript_files
    from bot.devtools.transcript_report import report

    configure_logging(level="error")  # the report is the output; only a crash's own log lines join it
    settings = _settings(args)
    paths = transcript_files([Path(p) for p in args.paths] or [settings.project_path(DEFAULT_FOLDER)])
    text, passed = report(asyncio.run(run_transcripts(paths, settings.project_dir)))
    print(text)
    return 0 if passed else 1


def templates_export(args: argparse.Namespace) -> int:
    """Write Meta's template-creation JSON for every template sent to Meta, ready to submit."""
    from bot.message_templates.export import export_all
    from bot.message_templates.library import TemplateLibrary

    library = TemplateLibrary.load(_folder(args.templates, _settings(args), "templates"))
    documents = export_all(library)
    text = json.dumps(documents, indent=2, ensure_ascii=False)
    if args.output == "-":
        print(text)
    else:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {len(documents)} templates to {args.output}")
    return 0


def templates_push(args: argparse.Namespace) -> int:
    """Submit new and changed templates to Meta's template API (WHATSAPP_API_URL, or a running sandbox)."""
    return _templates_meta(args, "push")


def templates_sync(args: argparse.Namespace) -> int:
    """Read back each template's status and category, and the number's quality and tier, and record them."""
    return _templates_meta(args, "sync")


def _templates_meta(args: argparse.Namespace, job: str) -> int:
    from bot.message_templates.meta_sync import run_command

    settings = _prepare(args)
    templates = _folder(getattr(args, "templates", None), settings, "templates")
    status, report = asyncio.run(run_command(settings, job=job, templates=templates, api_url=args.api_url))
    print(report, file=sys.stdout if status == 0 else sys.stderr)
    return status


def bench(args: argparse.Namespace) -> int:
    """Fire signed webhooks at a running service and print figures as JSON."""
    from bot.bench.webhook import run_webhook_bench

    print(asyncio.run(run_webhook_bench(args)))
    return 0


def bench_send(args: argparse.Namespace) -> int:
    """Drain a full outbox through the real sender into a Graph API stand-in; print figures as JSON."""
    from bot.bench.send import run_send_bench

    configure_logging(level="warning", fmt="json")
    print(asyncio.run(run_send_bench(args)))
    return 0


def bench_turns(args: argparse.Namespace) -> int:
    """Customers' texts through a real `bot serve` into a Graph API stand-in; print turn figures as JSON."""
    from bot.bench.turns import run_turns_bench

    configure_logging(level="warning", fmt="json")
    print(asyncio.run(run_turns_bench(args)))
    return 0


def bench_campaign(args: argparse.Namespace) -> int:
    """Dry-run and send a campaign to N seeded contacts through a Graph API stand-in; print figures as JSON."""
    from bot.bench.campaign import run_campaign_bench
    from bot.bench.campaign_served import run_served_campaign_bench

    configure_logging(level="warning", fmt="json")
    args.templates = str(_folder(args.templates, _settings(args), "templates"))
    print(asyncio.run(run_served_campaign_bench(args) if args.served else run_campaign_bench(args)))
    return 0


def bench_otp(args: argparse.Namespace) -> int:
    """Time one-time codes from `POST /api/otp` to the Graph API stand-in behind a queued backlog; print JSON."""
    from bot.bench.otp import run_otp_bench

    configure_logging(level="warning", fmt="json")
    print(asyncio.run(run_otp_bench(args)))
    return 0


def bench_numbers(args: argparse.Namespace) -> int:
    """Several numbers sending at once into a Graph API stand-in, each held to its own limit; print figures as JSON."""
    from bot.bench.numbers import run_numbers_bench

    configure_logging(level="warning", fmt="json")
    print(asyncio.run(run_numbers_bench(args)))
    return 0


def bench_notify(args: argparse.Namespace) -> int:
    """Utility notifications in batches through a real `bot serve` into a Graph API stand-in; print figures as JSON."""
    from bot.bench.notify import run_notify_bench

    configure_logging(level="warning", fmt="json")
    print(asyncio.run(run_notify_bench(args)))
    return 0


def bench_business(args: argparse.Namespace) -> int:
    """A business's bulk load on the orders, appointments and accounts routes of a real `bot serve`; print JSON."""
    from bot.bench.business import run_business_bench

    configure_logging(level="warning", fmt="json")
    print(asyncio.run(run_business_bench(args)))
    return 0


def bench_events(args: argparse.Namespace) -> int:
    """Events out: events/s to a local receiver; with --kill, SIGKILL mid-stream loses and reorders nothing."""
    from bot.bench.events import run_events_bench

    configure_logging(level="warning", fmt="console")
    print(asyncio.run(run_events_bench(args)))
    return 0


def bench_live(args: argparse.Namespace) -> int:
    """Time the live inbox's poller over N stored messages; print figures as JSON."""
    from bot.bench.live import run_live_bench

    print(asyncio.run(run_live_bench(args)))
    return 0


def bench_sweep(args: argparse.Namespace) -> int:
    """Time the dispatcher's timeout sweep over N stored sessions; print figures as JSON."""
    from bot.bench.sweep import run_sweep_bench

    configure_logging(level="warning", fmt="json")
    print(asyncio.run(run_sweep_bench(args)))
    return 0


def bench_strangers(args: argparse.Namespace) -> int:
    """Slow and stalled clients against `bot serve` while customers' webhooks go on; print figures as JSON."""
    from bot.bench.strangers import run_strangers_bench

    configure_logging(level="warning", fmt="json")
    print(asyncio.run(run_strangers_bench(args)))
    return 0


def bench_import(args: argparse.Namespace) -> int:
    """POST a CSV file of N contacts, streamed in chunks, to a real `bot serve`; print figures as JSON."""
    from bot.bench.contact_import import run_import_bench

    configure_logging(level="warning", fmt="json")
    print(asyncio.run(run_import_bench(args)))
    return 0


def graph(args: argparse.Namespace) -> int:
    """Print a flow as a Mermaid diagram (flowchart TD) to paste into Markdown or mermaid.live."""
    from bot.engine.graph import graph_flow

    sys.stdout.write(graph_flow(_folder(args.flows, _settings(args), "flows"), args.flow))
    return 0


def schema(args: argparse.Namespace) -> int:
    """Write flows/flow.schema.json (for editors) from the flow format's one declaration; --check: exit 1 if stale."""
    from bot.engine.flow_format import SCHEMA_FILE, schema_text

    target = (
        Path(args.output) if args.output else _settings(args).project_path(str(SCHEMA_FILE.parent)) / SCHEMA_FILE.name
    )
    text = schema_text()
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        print(f"{target}: up to date" if current == text else f"{target}: stale; run `bot schema` to write it")
        return 0 if current == text else 1
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


def chat(args: argparse.Namespace) -> int:
    """Chat with the flows in this terminal: real flows, templates and codes on a throwaway database."""
    from bot.devtools.chat import HISTORY_FILE, PROMPT, line_editing, run_chat, terminal_lines

    settings = _settings(args)
    # The chat's own output is the point; the service's log lines would drown it.
    configure_logging(level="warning", fmt=settings.log_format, secrets=settings.redactable())
    interactive = sys.stdin.isatty()
    save_history = line_editing(HISTORY_FILE.expanduser()) if interactive else None
    lines = terminal_lines(PROMPT if interactive else "")
    run = run_chat(
        lines,
        sys.stdout,
        flows=_folder(args.flows, settings, "flows"),
        templates=settings.project_path("templates"),
        timezone=settings.business_timezone,
        echo=not interactive,
        wa_id=args.wa_id,
        name=args.name,
        demo=args.demo,
    )
    try:
        asyncio.run(run)
    finally:
        if save_history:
            save_history()
    return 0


def _folder(given: str | None, settings: Settings, name: str) -> Path:
    """A folder named by an option (as typed, from the working directory), else the project's own `name`."""
    return Path(given) if given else settings.project_path(name)


def _fleet_options(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark that starts `bot` processes of its own."""
    parser.add_argument(
        "--database", default=None, help="the processes' database URL, migrated first (default: a new SQLite file)"
    )
    parser.add_argument("--throughput", type=int, default=1000, help="the processes' sender limit (BOT_THROUGHPUT)")
    parser.add_argument("--log-level", default="warning", help="the processes' BOT_LOG_LEVEL")


def _sends_wait_options(parser: argparse.ArgumentParser) -> None:
    """How long a benchmark waits at the stand-in for the sends it caused, and then for any made twice."""
    parser.add_argument("--stall", type=float, default=10.0, help="give up when no send arrived for this many seconds")
    parser.add_argument("--settle", type=float, default=1.0, help="then wait this long for sends made twice")


def _workers_option(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Split roles: the sender in `bot worker` processes of its own, beside the `bot serve` ones."""
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help=f"{prefix}send from this many `bot worker --roles sender` processes, and run `bot serve` with "
        "--roles web,dispatcher,scheduler (default 0: `bot serve` does everything)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="WhatsApp Business conversation service")
    parser.add_argument(
        "--env-file", default=None, help="settings file read besides the environment (default: the project's .env)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    # The bot project's folder (flows/, templates/, tests/transcripts/, .env) for the commands that read it.
    project = argparse.ArgumentParser(add_help=False)
    project.add_argument(
        "--project", metavar="DIR", default=None, help="the bot project's folder (default: BOT_PROJECT_DIR, or here)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    n = commands.add_parser("init", help=init.__doc__)
    n.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the folder to write (default: here)")
    n.add_argument("--force", action="store_true", help="overwrite the files of a project already there")
    n.set_defaults(run=init)
    p = commands.add_parser("serve", help=serve.__doc__, parents=[project])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--roles",
        default="web,dispatcher,sender,scheduler",
        help="what this process runs (default: all); e.g. `web` to measure the webhook alone",
    )
    p.set_defaults(run=serve)
    k = commands.add_parser("worker", help=worker.__doc__, parents=[project])
    k.add_argument(
        "--roles",
        default="sender,scheduler",
        help="what this process runs (default: sender,scheduler); e.g. `sender` beside a `bot serve --roles "
        "web,dispatcher,scheduler`, so that sending has a process of its own",
    )
    k.set_defaults(run=worker)
    db = commands.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help=db_upgrade.__doc__, parents=[project]).set_defaults(run=db_upgrade)
    commands.add_parser("demo", help=demo.__doc__, parents=[project]).set_defaults(run=demo)
    c = commands.add_parser("check", help=check.__doc__, parents=[project])
    c.add_argument("--templates", default=None, help="the templates folder (default: the project's)")
    c.add_argument("--flows", default=None, help="the flows folder (default: the project's)")
    c.set_defaults(run=check)
    tt = commands.add_parser("test", help=test.__doc__, parents=[project])
    tt.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="transcript files or folders (default: the project's tests/transcripts/)",
    )
    tt.set_defaults(run=test)
    g = commands.add_parser("graph", help=graph.__doc__, parents=[project])
    g.add_argument("flow", metavar="FLOW", help="the flow's name, e.g. orders")
    g.add_argument("--flows", default=None, help="the flows folder (default: the project's)")
    g.set_defaults(run=graph)
    sc = commands.add_parser("schema", help=schema.__doc__, parents=[project])
    sc.add_argument("--output", default=None, help="where to write it (default: the project's flows/flow.schema.json)")
    sc.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file differs")
    sc.set_defaults(run=schema)
    h = commands.add_parser("chat", help=chat.__doc__, parents=[project])
    h.add_argument("--flows", default=None, help="the flows folder (default: the project's)")
    h.add_argument("--as", dest="wa_id", metavar="WA_ID", help="the customer's WhatsApp number, digits only")
    h.add_argument("--name", help="the customer's WhatsApp profile name")
    h.add_argument(
        "--demo", action="store_true", help="load `bot demo`'s data first and chat as its first contact (see --as)"
    )
    h.set_defaults(run=chat)
    t = commands.add_parser("templates", help="message template commands").add_subparsers(
        dest="templates_command", required=True
    )
    e = t.add_parser("export", help=templates_export.__doc__, parents=[project])
    e.add_argument("--templates", default=None, help="the templates folder (default: the project's)")
    e.add_argument("--output", "-o", default="-", help="a file to write, or - for standard output")
    e.set_defaults(run=templates_export)
    api_help = "the Graph API's address (default: WHATSAPP_API_URL, else a sandbox at http://127.0.0.1:8080/sandbox)"
    p = t.add_parser("push", help=templates_push.__doc__, parents=[project])
    p.add_argument("--templates", default=None, help="the templates folder (default: the project's)")
    p.add_argument("--api-url", default=None, help=api_help)
    p.set_defaults(run=templates_push)
    s = t.add_parser("sync", help=templates_sync.__doc__, parents=[project])
    s.add_argument("--api-url", default=None, help=api_help)
    s.set_defaults(run=templates_sync)
    b = commands.add_parser("bench", help=bench.__doc__).add_subparsers(dest="bench_command", required=True)
    w = b.add_parser("webhook", help="durable webhook acknowledgements per second, p50/p99")
    w.add_argument(
        "--url",
        action="append",
        default=None,
        help="a running service's webhook URL (default http://127.0.0.1:8080/webhook); repeat it for several "
        "processes, which get the webhooks round robin",
    )
    w.add_argument("--secret", default=None, help="app secret (default: WHATSAPP_APP_SECRET or the sandbox's)")
    w.add_argument("--concurrency", type=int, default=64)
    w.add_argument("--requests", type=int, default=20000)
    w.add_argument("--warmup", type=int, default=500)
    w.add_argument("--kind", choices=["text", "status", "mixed"], default="text")
    w.add_argument("--processes", type=int, default=0, help="start this many `bot serve` processes instead of --url")
    w.add_argument("--roles", default="web", help="with --processes: what they run (default: the webhook alone)")
    w.add_argument(
        "--bare",
        action="store_true",
        help="with --processes: also drive a bare aiohttp handler (signature check and JSON parse, nothing stored) "
        "in its own process, in turns with the service, and print the service's rate as a share of it",
    )
    w.add_argument("--rounds", type=int, default=1, help="with --bare: how many times to measure each, in turns")
    _fleet_options(w)
    w.set_defaults(run=bench)
    s = b.add_parser("send", help="outbound sends per second through the sender, busiest one-second window")
    s.add_argument("--messages", type=int, default=20000)
    s.add_argument("--rate", type=int, default=1000, help="the sender's throughput limit (messages per second)")
    s.add_argument("--database", default=None, help="database URL (default: a temporary SQLite file)")
    s.add_argument(
        "--processes", type=int, default=0, help="send with this many `bot worker` processes (default: in this one)"
    )
    s.set_defaults(run=bench_send)
    r = b.add_parser("turns", help="flow turns per second, webhook to reply at the Graph API, p50/p99")
    r.add_argument("--turns", type=int, default=10000, help="customer texts to time, each one flow turn")
    r.add_argument("--concurrency", type=int, default=32, help="webhooks in flight at once")
    r.add_argument("--customers", type=int, default=2000, help="distinct customers the texts come from")
    r.add_argument("--warmup", type=int, default=500, help="turns first, from other customers, not timed")
    r.add_argument("--rate", type=float, default=0, help="post at most this many webhooks a second (0: no limit)")
    r.add_argument("--text", default="hi,menu", help="what each customer writes, in turn (comma-separated)")
    r.add_argument("--processes", type=int, default=1, help="`bot serve` processes to start (one database)")
    _workers_option(r)
    _fleet_options(r)
    r.add_argument("--stall", type=float, default=5.0, help="give up when no reply arrived for this many seconds")
    r.add_argument("--url", default=None, help="a running service's webhook URL instead of starting one")
    r.add_argument(
        "--graph-url", default=None, help="with --url: the stand-in it sends to (python -m bot.bench.stand_in)"
    )
    r.add_argument("--secret", default=None, help="with --url: its app secret (default: WHATSAPP_APP_SECRET)")
    r.add_argument("--pid", type=int, default=None, help="with --url: its process id, for CPU and peak memory")
    r.set_defaults(run=bench_turns)

    m = b.add_parser(
        "campaign", help="a campaign to N contacts: dry-run time, expansion, send rate, peak memory", parents=[project]
    )
    m.add_argument("--contacts", type=int, default=100_000)
    m.add_argument("--rate", type=int, default=1000, help="the sender's throughput limit (messages per second)")
    m.add_argument("--database", default=None, help="database URL (default: a temporary SQLite file)")
    m.add_argument("--templates", default=None, help="the templates folder (default: the project's)")
    m.add_argument(
        "--served", action="store_true", help="through a real `bot serve`: CSV import, POST /api/campaigns, stand-in"
    )
    m.add_argument("--stall", type=float, default=10.0, help="with --served: give up when no send came this long")
    m.add_argument("--log-level", default="warning", help="with --served: the service's BOT_LOG_LEVEL")
    _workers_option(m, "with --served: ")
    m.set_defaults(run=bench_campaign)

    o = b.add_parser("otp", help="seconds from POST /api/otp to the stand-in, behind a queued backlog of replies")
    o.add_argument("--texts", type=int, default=5000, help="customer texts making the backlog (two replies each)")
    o.add_argument("--codes", type=int, default=5, help="one-time codes to request once the backlog is queued")
    o.add_argument("--every", type=float, default=2.0, help="seconds between the codes' requests")
    o.add_argument("--settle", type=float, default=5.0, help="seconds after the first reply before the first code")
    o.add_argument("--concurrency", type=int, default=32, help="webhooks in flight at once")
    o.add_argument("--timeout", type=float, default=600.0, help="give up on a code after this many seconds")
    _fleet_options(o)
    o.set_defaults(run=bench_otp, throughput=100)

    n = b.add_parser("notify", help="utility notifications in batches of 1,000 to /api/notifications, to their sends")
    n.add_argument("--notifications", type=int, default=10_000, help="notifications to post, each to its own contact")
    n.add_argument("--batch", type=int, default=1000, help="notifications per POST /api/notifications")
    _fleet_options(n)
    _sends_wait_options(n)
    n.set_defaults(run=bench_notify)
    u = b.add_parser("business", help="orders, deliveries, appointments and balances through the API, many at once")
    u.add_argument("--orders", type=int, default=2000, help="customers, each with an order, appointment and account")
    u.add_argument("--concurrency", type=int, default=32, help="requests in flight at once")
    _fleet_options(u)
    _sends_wait_options(u)
    u.set_defaults(run=bench_business)
    m = b.add_parser("numbers", help="several business numbers sending at once, each held to its own limit")
    m.add_argument("--numbers", type=int, default=10, help="how many business numbers (default 10)")
    m.add_argument("--messages", type=int, default=500, help="utility templates per number (default 500)")
    m.add_argument("--rate", type=int, default=40, help="every other number's limit; the others twice it (default 40)")
    m.add_argument("--database", default=None, help="the database URL, migrated first (default: a new SQLite file)")
    m.add_argument("--served", action="store_true", help="through `bot serve` and POST /api/notifications only")
    m.set_defaults(run=bench_numbers)

    v = b.add_parser("events", help="events out to a local receiver: events/s; --kill: SIGKILL mid-stream, order kept")
    v.add_argument("--customers", type=int, default=500, help="customers texting, each an ordered stream of events")
    v.add_argument("--rounds", type=int, default=40, help="texts per customer (events: customers x rounds)")
    v.add_argument("--per-webhook", type=int, default=10, help="customers' texts per webhook")
    v.add_argument("--workers", type=int, default=1, help="`bot worker` processes draining the queue")
    v.add_argument(
        "--concurrency", type=int, default=64, help="deliveries in flight per process (BOT_EVENTS_CONCURRENCY)"
    )
    v.add_argument("--timeout", type=float, default=2.0, help="seconds per delivery (BOT_EVENTS_TIMEOUT_SECONDS)")
    v.add_argument(
        "--kill", action="store_true", help="one `bot serve` takes webhooks and delivers; SIGKILL it a third in"
    )
    v.add_argument("--stall", type=float, default=20.0, help="give up when no event arrived for this many seconds")
    _fleet_options(v)
    v.set_defaults(run=bench_events)

    w = b.add_parser("sweep", help="the dispatcher's timeout sweep with N customers' sessions stored")
    w.add_argument("--sessions", type=int, default=200_000)
    w.add_argument("--due", type=int, default=0, help="sessions past their expiry, found by every sweep")
    w.add_argument("--calls", type=int, default=50, help="sweeps to time")
    w.add_argument("--database", default=None, help="database URL (default: a temporary SQLite file)")
    w.set_defaults(run=bench_sweep)

    lv = b.add_parser("live", help="a round of the dashboard's live inbox poller with N messages stored")
    lv.add_argument("--messages", type=int, default=200_000)
    lv.add_argument("--contacts", type=int, default=1000)
    lv.add_argument("--waiting", type=int, default=50, help="customers waiting for a person (unread counted)")
    lv.add_argument("--rounds", type=int, default=20, help="rounds to time, each with one new message")
    lv.add_argument("--database", default=None, help="database URL (default: a temporary SQLite file)")
    lv.set_defaults(run=bench_live)

    x = b.add_parser("strangers", help="slow and stalled clients: the service's memory, hang-ups, customers' latency")
    x.add_argument("--slow", type=int, default=1000, help="slow connections: half trickle headers, half a body")
    x.add_argument("--stalled", type=int, default=40, help="webhook uploads that stop part way")
    x.add_argument("--stalled-mb", type=float, default=8.0, help="the size those uploads declare, in MB")
    x.add_argument("--hold", type=float, default=60.0, help="seconds the attack lasts")
    x.add_argument("--pause", type=float, default=1.0, help="seconds between a slow connection's bytes")
    x.add_argument("--every", type=float, default=0.2, help="seconds between customers' webhooks meanwhile")
    x.add_argument("--url", default=None, help="a running service's webhook URL instead of starting one")
    x.add_argument("--pid", type=int, default=None, help="with --url: its process id, for its memory")
    x.add_argument("--secret", default=None, help="with --url: its app secret (default: the benchmark's)")
    x.set_defaults(run=bench_strangers)

    i = b.add_parser("import", help="a CSV import of N contacts over a socket: rows/s, wall time, peak memory")
    i.add_argument("--rows", type=int, default=100_000)
    i.add_argument("--consent-every", type=int, default=5, help="every Nth row opts in with evidence (0: none)")
    i.add_argument("--chunk", type=int, default=64 * 1024, help="bytes the client sends at a time")
    i.add_argument("--roles", default="web", help="what the `bot serve` process runs (default: the API alone)")
    i.add_argument("--database", default=None, help="database URL, migrated first (default: a new SQLite file)")
    i.add_argument("--log-level", default="warning", help="the process's BOT_LOG_LEVEL")
    i.set_defaults(run=bench_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BotError as exc:
        print(f"bot: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
