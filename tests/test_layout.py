"""The layout the README promises: a few shared modules at bot's top, a folder per job, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"
LONG = 420  # "about 400 lines" (STYLE.md); a longer module says why in its docstring


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def test_bot_top_holds_only_what_the_whole_app_shares() -> None:
    """At most 12 modules sit directly in bot/; everything else is in a folder named for its job."""
    top = sorted(p.name for p in BOT.glob("*.py"))
    assert len(top) <= 12, top


def test_every_package_says_its_job_in_a_line() -> None:
    """Each folder of bot/ is a package whose __init__.py is a one-line docstring and nothing else."""
    for folder in sorted(p for p in BOT.iterdir() if p.is_dir() and any(p.glob("*.py"))):
        init = folder / "__init__.py"
        assert init.is_file(), f"{folder} is not a package"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert len(tree.body) == 1, f"{init} should hold only its docstring"
        doc = ast.get_docstring(tree)
        assert doc, f"{init} should say its job"
        assert "\n" not in doc, f"{init} should say its job in one line"


def test_a_long_module_says_why_it_is_long() -> None:
    """A module of bot/ or storage/ over about 400 lines explains in its docstring why it is one module."""
    for path in sorted([*BOT.rglob("*.py"), *(ROOT / "storage").glob("*.py")]):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > LONG:
            assert "Why one module" in _docstring(path), f"{path.relative_to(ROOT)} has {lines} lines and no reason"
