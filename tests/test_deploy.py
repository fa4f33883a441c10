"""The files an operator expects beside the code: the license pyproject names, and systemd units that load."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"


def test_the_license_file_is_the_one_pyproject_names() -> None:
    """pyproject.toml says MIT; LICENSE is the MIT license's text."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]["text"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert declared == "MIT"
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_load_and_run_bot_serve_and_bot_worker(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts both units, with their `bot` pointed at this venv's."""
    bot = Path(sys.executable).parent / "bot"
    for name, command in (("bot-serve.service", "serve"), ("bot-worker.service", "worker")):
        unit = (UNITS / name).read_text(encoding="utf-8")
        assert f"/opt/bot/venv/bin/bot --env-file /srv/bot/.env {command}" in unit
        (tmp_path / name).write_text(unit.replace("/opt/bot/venv/bin/bot", str(bot)), encoding="utf-8")
        verified = subprocess.run(
            ["systemd-analyze", "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60
        )
        assert verified.returncode == 0, verified.stderr
        assert name not in verified.stderr, verified.stderr  # no complaint about the unit itself
