"""The floor `bot bench webhook --bare` measures the service against: a bare aiohttp handler in its own process.

It does what any webhook receiver must (read the body, check Meta's signature, parse the JSON) and nothing
else: no middlewares, no parser, no database. Run as ``python -m bot.bench.bare --port 0 --secret S``; it
prints its port on the first line of standard output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from bot.bench.fleet import Fleet, Service
from bot.bench.stand_in import serve_until_killed
from bot.whatsapp.signature import HEADER, verify

MAX_BODY = 8 * 1024 * 1024  # as the service's webhook takes

_SECRET = web.AppKey("secret", str)


async def receive(request: web.Request) -> web.Response:
    """POST /webhook: 401 without the right signature, 400 unless JSON, else 200; nothing is kept."""
    body = await request.read()
    if not verify(request.app[_SECRET], body, request.headers.get(HEADER)):
        return web.Response(status=401, text="bad signature")
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return web.Response(status=400, text="not JSON")
    return web.Response(text='{"ok": true}', content_type="application/json")


def bare_app(secret: str) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[_SECRET] = secret
    app.router.add_post("/webhook", receive)
    return app


async def serve_bare(port: int, secret: str) -> None:
    """Serve until killed; print the bound port on the first line of standard output."""
    await serve_until_killed(bare_app(secret), port)


@contextlib.asynccontextmanager
async def bare_process(secret: str) -> AsyncIterator[Fleet]:
    """Start the bare handler as a child process; yield it as a one-process fleet; terminate and reap it after."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.bench.bare", "--port", "0", "--secret", secret, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        if not line.strip():
            raise RuntimeError("the bare handler did not start")
        yield Fleet([Service(f"http://127.0.0.1:{int(line)}/webhook", child.pid)])
    finally:
        if child.returncode is None:
            child.terminate()
        await child.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.bench.bare", description="a bare signed-webhook handler")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", required=True, help="the app secret the webhooks are signed with")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_bare(args.port, args.secret))


if __name__ == "__main__":
    main()
