"""`bot init` and the project folder: a project of its own, found from anywhere by `--project` or BOT_PROJECT_DIR."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.devtools.project import init_project

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings of the runner's own: each test says what it sets."""
    for name in [n for n in os.environ if n.startswith(("BOT_", "WHATSAPP_"))]:
        monkeypatch.delenv(name)


def test_init_writes_a_project_refuses_to_overwrite_one_and_force_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bot init DIR` copies the examples; run again it exits 2 and writes nothing; `--force` writes them again."""
    monkeypatch.chdir(tmp_path)
    assert main(["init", "shop"]) == 0
    flows = sum(1 for p in (ROOT / "flows").rglob("*") if p.is_file())
    out = capsys.readouterr().out
    written = f"wrote a bot project in shop: flows/ ({flows} files), whatsapp_flows/ (1 file), templates/ ("
    assert out.startswith(written)
    assert "next: cd shop && cp .env.example .env && bot check && bot test && bot serve" in out
    shop = tmp_path / "shop"
    for name in ("flows/main.yaml", "flows/data/business.yaml", "tests/transcripts/main_help.yaml", ".env.example"):
        assert (shop / name).read_bytes() == (ROOT / name).read_bytes(), name
    assert "bot serve" in (shop / "README.md").read_text(encoding="utf-8")

    main_flow, mine = shop / "flows" / "main.yaml", shop / "flows" / "mine.yaml"
    main_flow.write_text("# my own\n", encoding="utf-8")
    mine.write_text("# another\n", encoding="utf-8")
    assert main(["init", "shop"]) == 2
    assert capsys.readouterr().err == (
        "bot: error: shop already holds a project (flows, whatsapp_flows, templates, tests/transcripts, .env.example, "
        "README.md); nothing was written. Use --force to overwrite those files with the examples\n"
    )
    assert main_flow.read_text(encoding="utf-8") == "# my own\n"
    assert main(["init", "--force", "shop"]) == 0
    assert main_flow.read_bytes() == (ROOT / "flows" / "main.yaml").read_bytes()
    assert mine.exists()  # the examples are written again; the project's other files stay

    (tmp_path / "repo" / ".git").mkdir(parents=True)  # a folder holding something else is no project
    assert main(["init", "repo"]) == 0
    (tmp_path / "file").write_text("")
    assert main(["init", "file"]) == 2
    assert capsys.readouterr().err.endswith("bot: error: file is a file, not a folder\n")


def test_every_command_reads_the_project_named_by_option_or_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """From a folder with no flows: check, test, chat and graph read the project's folders, `.env` and rate card."""
    shop = tmp_path / "shop"
    init_project(shop)
    main_flow = shop / "flows" / "main.yaml"
    main_flow.write_text(main_flow.read_text(encoding="utf-8").replace("Example Store", "Corner Shop"))
    for transcript in (shop / "tests" / "transcripts").iterdir():  # one reads the business file, one greets
        if transcript.stem not in ("appointments_book", "main_cancel"):
            transcript.unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    # The project's .env is read, and its rate card is a path in the project.
    (shop / ".env").write_text("BOT_RATE_CARD=rates.csv\n", encoding="utf-8")
    (shop / "rates.csv").write_text("country_calling_code,category\n", encoding="utf-8")
    assert main(["check", "--project", str(shop)]) == 1
    assert f"{shop / 'rates.csv'}:" in capsys.readouterr().err
    (shop / ".env").unlink()
    assert main(["check", "--project", str(shop)]) == 0
    out = capsys.readouterr().out
    assert "flows: 0 error(s), 0 warning(s)" in out
    assert "business file: 0 error(s), 0 warning(s)" in out

    assert main(["test", "--project", str(shop)]) == 1  # main_cancel expects the greeting from Example Store
    out = capsys.readouterr().out
    assert "2 transcripts: 1 FAILED, 1 ok" in out
    assert "Corner Shop" in out

    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n/quit\n"))
    assert main(["--env-file", "/nonexistent", "chat", "--project", str(shop), "--name", "Ana"]) == 0
    assert "Hi Ana! I'm the assistant of Corner Shop." in capsys.readouterr().out

    monkeypatch.setenv("BOT_PROJECT_DIR", str(shop))
    assert main(["graph", "main"]) == 0
    assert capsys.readouterr().out.startswith("flowchart TD")
    assert main(["templates", "export"]) == 0
    assert '"name": "order_confirmation"' in capsys.readouterr().out

    monkeypatch.setenv("BOT_PROJECT_DIR", str(tmp_path / "nowhere"))
    assert main(["check"]) == 2
    assert "is not a folder; `bot init DIR` writes a project" in capsys.readouterr().err
