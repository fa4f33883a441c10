"""The built wheel: every page, asset, rate card and migration is inside, and `bot serve` runs from it alone."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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


async def test_the_wheel_holds_everything_and_serves_the_sandbox_and_dashboard(tmp_path: Path) -> None:
    """Installed from the wheel alone, the service answers its chat page, assets, dashboard and API document."""
    wheel = _build_wheel(tmp_path / "dist")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
        names = set(archive.namelist())
    assert _packages(site) == _packages(ROOT)
    for needed in (
        "bot/dashboard/html/layout.html",
        "bot/sandbox/static/sandbox.html",
        "bot/sandbox/static/sandbox.js",
        "bot/sandbox/static/sandbox.css",
        "bot/whatsapp/rate_cards/example.csv",
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
    ):
        assert needed in names, f"{needed} is missing from {wheel.name}"
    migrations = {n for n in names if n.startswith("storage/migrations/versions/") and n.endswith(".py")}
    assert len(migrations) == len(list((ROOT / "storage/migrations/versions").glob("*.py")))

    # Run it from a business's folder (its flows and templates, nothing of the code), the wheel's files
    # first on the path, with a SQLite file of its own.
    folder = tmp_path / "project"
    for content in ("flows", "templates"):
        shutil.copytree(ROOT / content, folder / content)
    env = environment(f"sqlite+aiosqlite:///{folder / 'bot.db'}", PYTHONPATH=str(site))
    where = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import bot; print(bot.__file__)", env=env, cwd=folder, stdout=asyncio.subprocess.PIPE
    )
    printed, _ = await where.communicate()
    assert printed.decode().strip() == str(site / "bot" / "__init__.py")
    port = unused_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--env-file", "/dev/null", "serve", "--port", str(port),
            env=env, cwd=folder, stdout=out, stderr=out,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def healthy() -> bool:
                async with session.get(f"{base}/healthz") as response:
                    return response.status == 200

            await wait_for(healthy, 60, f"bot serve from the wheel ({log.read_text(errors='replace')[-2000:]})")
            for path, kind in (
                ("/sandbox", "text/html"),
                ("/sandbox/static/sandbox.js", "javascript"),
                ("/sandbox/static/sandbox.css", "text/css"),
                ("/dashboard/login", "text/html"),
                ("/api/openapi.json", "application/json"),
            ):
                async with session.get(f"{base}{path}") as response:
                    assert response.status == 200, (path, response.status)
                    assert kind in response.headers["Content-Type"], (path, response.headers["Content-Type"])
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with session.get(f"{base}/api/stats?from=2026-01-01&to=2026-01-31", headers=headers) as response:
                assert response.status == 200  # the example rate card, read from the wheel, prices the report
    finally:
        child.terminate()
        await child.wait()
