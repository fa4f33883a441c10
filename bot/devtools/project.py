"""`bot init`: a bot project of its own (flows, templates, transcripts, settings), written from the shipped examples.

The wheel carries the examples in `bot/project_template/`, put there at build time by `setup.py` from the
checkout's own `flows/`, `whatsapp_flows/`, `templates/`, `tests/transcripts/` and `.env.example` (one copy of
each file); run from a checkout, `bot init` reads those folders directly.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bot.errors import ConfigError

# What a project holds, as `setup.py` packs it (keep the two lists alike) and `bot init` writes it.
PROJECT_FILES = ("flows", "whatsapp_flows", "templates", "tests/transcripts", ".env.example")
README = "README.md"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


@dataclass(frozen=True)
class Written:
    """What `bot init` wrote: the folder and the number of files in each part."""

    folder: Path
    files: dict[str, int]

    def summary(self) -> str:
        parts = ", ".join(
            f"{name}/ ({count} file{'s' if count != 1 else ''})" if not Path(name).suffix else name
            for name, count in self.files.items()
        )
        where = "" if self.folder == Path() else f"cd {self.folder} && "
        return (
            f"wrote a bot project in {self.folder}: {parts}\n"
            f"next: {where}cp .env.example .env && bot check && bot test && bot serve"
        )


def examples() -> Path:
    """Where the shipped examples are: the wheel's `bot/project_template/`, else the checkout's root."""
    packaged = Path(str(resources.files("bot"))) / "project_template"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2]
    if all((checkout / name).exists() for name in PROJECT_FILES):
        return checkout
    raise ConfigError(f"the package holds no example project (looked in {packaged} and {checkout})")


def init_project(folder: Path, *, force: bool = False, source: Path | None = None) -> Written:
    """Write the example project into `folder` (made if missing); refuse to overwrite one unless `force`."""
    source = source or examples()
    targets = [*PROJECT_FILES, README]
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a folder")
    there = [name for name in targets if (folder / name).exists()]
    if there and not force:
        raise ConfigError(
            f"{folder} already holds a project ({', '.join(there)}); nothing was written. "
            "Use --force to overwrite those files with the examples"
        )
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, int] = {}
    for name in PROJECT_FILES:
        origin, target = source / name, folder / name
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=_SKIP, dirs_exist_ok=True)
            files[name] = sum(1 for p in origin.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        else:
            shutil.copyfile(origin, target)
            files[name] = 1
    readme = resources.files("bot.devtools").joinpath("project_readme.md").read_text(encoding="utf-8")
    (folder / README).write_text(readme, encoding="utf-8")
    files[README] = 1
    return Written(folder, files)
