"""The built wheel, installed in a fresh venv outside the checkout: `bot init` writes a project, which checks,
passes its transcripts and serves a sandbox customer; every page, asset, rate card and migration is inside."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import unused_port

from tests.conftest import ADMIN_TOKEN
from tests.harness import environment, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _build_wheel(out: Path) -> Path:
    """`pip wheel` of the project, as a user installing it would get it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = out.glob("whatsapp_conversation_service-*.whl")
    return wheel


def _packages(root: Path) -> set[str]:
    """The import packages of bot and storage below `root`, as folder paths."""
    found = [*(root / "bot").rglob("__init__.py"), *(root / "storage").glob("__init__.py")]
    return {str(p.parent.relative_to(root)) for p in found}


def _venv(folder: Path, wheel: Path) -> Path:
    """A fresh venv with the wheel installed, offline: its dependencies are this venv's (a `.pth` line, so
    nothing of this checkout, not even its editable install, is on its path). Returns its `bin/`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return folder / "bin"


async def _run(*argv: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    child = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await child.communicate()
    return int(child.returncode or 0), out.decode(errors="replace")


# One transcript per shipped flow: enough to show `bot test` finds the project's flows, templates and business file.
TRANSCRIPTS = ("main_help", "orders_by_number", "appointments_book", "balance_main", "feedback_submitted")


async def test_the_wheel_in_a_fresh_venv_inits_checks_tests_and_serves_a_project(tmp_path: Path) -> None:
    """From the wheel alone: `bot init` in an empty folder, `bot check`, `bot test`, and `bot serve` answers."""
    wheel = _build_wheel(tmp_path / "dist")
    version = wheel.name.split("-")[1]
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "unpacked")
        names = set(archive.namelist())
    assert _packages(tmp_path / "unpacked") == _packages(ROOT)
    for needed in (
        "bot/dashboard/html/layout.html",
        "bot/sandbox/static/sandbox.html",
        "bot/sandbox/static/sandbox.js",
        "bot/sandbox/static/sandbox.css",
        "bot/whatsapp/rate_cards/example.csv",
        "bot/devtools/project_readme.md",
        "bot/project_template/.env.example",
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
    ):
        assert needed in names, f"{needed} is missing from {wheel.name}"
    migrations = {n for n in names if n.startswith("storage/migrations/versions/") and n.endswith(".py")}
    assert len(migrations) == len(list((ROOT / "storage/migrations/versions").glob("*.py")))
    template = "bot/project_template/"
    for part in ("flows", "whatsapp_flows", "templates", "tests/transcripts"):  # every example file, once
        shipped = {n.removeprefix(template) for n in names if n.startswith(f"{template}{part}/")}
        assert shipped == {str(p.relative_to(ROOT)) for p in (ROOT / part).rglob("*") if p.is_file()}

    bin_ = _venv(tmp_path / "venv", wheel)
    folder = tmp_path / "shop"
    folder.mkdir()
    env = environment(f"sqlite+aiosqlite:///{folder / 'bot.db'}", PATH=f"{bin_}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    code, printed = await _run("python", "-c", "import bot; print(bot.__file__)", env=env, cwd=folder)
    assert code == 0, printed
    assert Path(printed.strip()).is_relative_to(tmp_path / "venv"), printed
    assert await _run("bot", "--version", env=env, cwd=folder) == (0, f"bot {version}\n")

    code, printed = await _run("bot", "init", env=env, cwd=folder)
    assert code == 0, printed
    assert "wrote a bot project in ." in printed
    for made in ("flows/main.yaml", "flows/data/business.yaml", "templates/utility", "tests/transcripts", "README.md"):
        assert (folder / made).exists(), made
    (folder / ".env.example").rename(folder / ".env")  # the operator's first step; every line is a comment
    assert await _run("bot", "init", env=env, cwd=folder) == (
        2,
        "bot: error: . already holds a project (flows, whatsapp_flows, templates, tests/transcripts, README.md); "
        "nothing was written. Use --force to overwrite those files with the examples\n",
    )

    port = unused_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        child = await asyncio.create_subprocess_exec(
            "bot", "serve", "--port", str(port), env=env, cwd=folder, stdout=out, stderr=out
        )
    try:
        # `bot check` and `bot test` run while the service starts: the machine's cores are few and shared.
        transcripts = [f"tests/transcripts/{name}.yaml" for name in TRANSCRIPTS]
        (check_code, check_out), (test_code, test_out) = await asyncio.gather(
            _run("bot", "check", env=env, cwd=folder), _run("bot", "test", *transcripts, env=env, cwd=folder)
        )
        assert check_code == 0, check_out
        assert "flows: 0 error(s)" in check_out
        assert "business file: 0 error(s)" in check_out
        assert test_code == 0, test_out
        assert f"{len(TRANSCRIPTS)} transcripts: {len(TRANSCRIPTS)} ok" in test_out

        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(base) as session:

            async def healthy() -> bool:
                async with session.get("/healthz") as response:
                    return response.status == 200

            await wait_for(healthy, 60, f"bot serve from the wheel ({log.read_text(errors='replace')[-2000:]})")
            for path, kind in (
                ("/sandbox", "text/html"),
                ("/sandbox/static/sandbox.js", "javascript"),
                ("/sandbox/static/sandbox.css", "text/css"),
                ("/dashboard/login", "text/html"),
            ):
                async with session.get(path) as response:
                    assert response.status == 200, (path, response.status)
                    assert kind in response.headers["Content-Type"], (path, response.headers["Content-Type"])
            async with session.get("/api/openapi.json") as response:
                assert (await response.json())["info"]["version"] == version
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with session.get("/api/stats?from=2026-01-01&to=2026-01-31", headers=headers) as response:
                assert response.status == 200  # the example rate card, read from the wheel, prices the report

            # A customer in the sandbox, as the chat page talks to it.
            customer = "31612345099"
            sent = await session.post(f"/sandbox/users/{customer}/messages", json={"text": "hi", "name": "Ana"})
            assert sent.status == 200, await sent.text()

            async def answered() -> list[dict[str, Any]]:
                async with session.get(f"/sandbox/users/{customer}/messages") as response:
                    items = (await response.json())["items"]
                return [i for i in items if i["direction"] == "out"] if len(items) >= 3 else []

            reply, menu = await wait_for(answered, 30, "the bot's answer in the sandbox")
            assert reply["text"] == "Hi Ana! I'm the assistant of Example Store."
            assert menu["type"] == "interactive"
    finally:
        child.terminate()
        await child.wait()
