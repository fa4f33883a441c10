"""Build step: the wheel carries the example bot project `bot init` writes, as `bot/project_template/`.

The examples stay where the checkout uses them (`flows/`, `whatsapp_flows/`, `templates/`, `tests/transcripts/`,
`.env.example`); building copies them into the wheel, so there is one copy of each file in the repository.
Everything else about the package is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# What a project holds: bot/devtools/project.py's PROJECT_FILES (keep the two lists alike).
PROJECT_FILES = ("flows", "whatsapp_flows", "templates", "tests/transcripts", ".env.example")


class BuildWithProject(build_py):
    """`build_py`, then the example project into the build's `bot/project_template/`."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout's folders
            return
        target = Path(self.build_lib) / "bot" / "project_template"
        shutil.rmtree(target, ignore_errors=True)  # a build folder left by an earlier build
        for name in PROJECT_FILES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / name)


setup(cmdclass={"build_py": BuildWithProject})
