"""Settings: read from the environment and `.env`, sandbox defaults, real-mode requirements, and the CLI's errors."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.errors import ConfigError
from bot.settings import (
    DEFAULT_API_URL,
    SANDBOX_APP_SECRET,
    SANDBOX_PHONE_NUMBER_ID,
    SANDBOX_VERIFY_TOKEN,
    Settings,
    _Environment,
    load_settings,
    normalise_database_url,
)
from bot.whatsapp.rate_card import example_rate_card

VARIABLES = (
    "BOT_DATABASE_URL",
    "BOT_ADMIN_TOKEN",
    "BOT_SECRET_KEY",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "WHATSAPP_API_URL",
    "WHATSAPP_API_VERSION",
    "BOT_THROUGHPUT",
    "BOT_TIMEZONE",
    "BOT_LOG_LEVEL",
    "BOT_LOG_FORMAT",
    "BOT_RELOAD",
    "BOT_RATE_CARD",
    "BOT_RETAIN_WEBHOOKS_DAYS",
    "BOT_RETAIN_TEXTS_DAYS",
    "BOT_RETAIN_MEDIA_DAYS",
    "BOT_MEDIA_DIR",
    "BOT_ENDPOINTS_CANNED",
)

REAL_MODE = {
    "WHATSAPP_ACCESS_TOKEN": "EAAG-real-access-token",
    "WHATSAPP_PHONE_NUMBER_ID": "123456789012345",
    "WHATSAPP_APP_SECRET": "real-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "real-verify-token",
    "BOT_SECRET_KEY": "real-secret-key",
    "BOT_ADMIN_TOKEN": "real-admin-token",
}
REQUIRED_IN_REAL_MODE = [name for name in REAL_MODE if name != "WHATSAPP_ACCESS_TOKEN"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts from an environment without the service's variables, in a directory without `.env`."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def set_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


# --- sandbox mode -------------------------------------------------------------------------------------


def test_sandbox_mode_when_no_access_token() -> None:
    """Without WHATSAPP_ACCESS_TOKEN the service runs in sandbox mode with the documented defaults."""
    settings = load_settings(env_file=None)
    assert settings.sandbox is True
    assert settings.access_token is None
    assert settings.phone_number_id == SANDBOX_PHONE_NUMBER_ID == "106540352242922"
    assert settings.app_secret == SANDBOX_APP_SECRET == "sandbox-app-secret"
    assert settings.verify_token == SANDBOX_VERIFY_TOKEN == "sandbox-verify-token"
    assert settings.database_url == "sqlite+aiosqlite:///bot.db"
    assert settings.api_version == "v25.0"
    assert settings.api_url is None  # `bot serve` points it at its own sandbox
    assert settings.throughput == 80
    assert settings.business_timezone == "UTC"


def test_hot_reload_is_on_unless_bot_reload_is_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bot serve` reloads flows and templates by default; BOT_RELOAD=0 turns it off, a non-boolean is refused."""
    assert load_settings(env_file=None).reload is True
    monkeypatch.setenv("BOT_RELOAD", "0")
    assert load_settings(env_file=None).reload is False
    monkeypatch.setenv("BOT_RELOAD", "sometimes")
    with pytest.raises(ConfigError, match="BOT_RELOAD"):
        load_settings(env_file=None)


def test_canned_endpoint_answers_are_for_the_sandbox_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """BOT_ENDPOINTS_CANNED is read in sandbox mode and refused with a real Meta access token."""
    monkeypatch.setenv("BOT_ENDPOINTS_CANNED", "canned.yaml")
    assert load_settings(env_file=None).endpoints_canned == Path("canned.yaml")
    set_env(monkeypatch, REAL_MODE)
    with pytest.raises(ConfigError, match="BOT_ENDPOINTS_CANNED is for sandbox mode only"):
        load_settings(env_file=None)


def test_retention_is_30_and_90_days_unless_set_and_0_keeps_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    """Raw bodies are kept 30 days and texts 90 by default; empty keeps the default, 0 forever, nonsense is refused."""
    settings = load_settings(env_file=None)
    assert (settings.retain_webhooks_days, settings.retain_texts_days) == (30, 90)
    set_env(monkeypatch, {"BOT_RETAIN_WEBHOOKS_DAYS": "0", "BOT_RETAIN_TEXTS_DAYS": " "})
    settings = load_settings(env_file=None)
    assert (settings.retain_webhooks_days, settings.retain_texts_days) == (None, 90)
    monkeypatch.setenv("BOT_RETAIN_TEXTS_DAYS", "7")
    assert load_settings(env_file=None).retain_texts_days == 7
    for wrong in ("-1", "two weeks", "1.5", "99999"):
        monkeypatch.setenv("BOT_RETAIN_TEXTS_DAYS", wrong)
        with pytest.raises(ConfigError, match=r"BOT_RETAIN_TEXTS_DAYS .* whole number of days"):
            load_settings(env_file=None)


def test_media_files_are_kept_as_long_as_texts_unless_set_in_the_folder_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """BOT_RETAIN_MEDIA_DAYS follows the texts' days when unset, 0 keeps files forever; BOT_MEDIA_DIR: the folder."""
    settings = load_settings(env_file=None)
    assert (settings.retain_media_days, settings.media_dir) == (90, Path("media"))
    set_env(monkeypatch, {"BOT_RETAIN_TEXTS_DAYS": "7", "BOT_MEDIA_DIR": "/var/lib/bot/media"})
    assert (load_settings(env_file=None).retain_media_days, load_settings(env_file=None).media_dir) == (
        7, Path("/var/lib/bot/media"),
    )  # fmt: skip
    monkeypatch.setenv("BOT_RETAIN_TEXTS_DAYS", "0")
    assert load_settings(env_file=None).retain_media_days is None  # texts kept forever: files too
    monkeypatch.setenv("BOT_RETAIN_TEXTS_DAYS", "7")
    monkeypatch.setenv("BOT_RETAIN_MEDIA_DAYS", "0")
    assert load_settings(env_file=None).retain_media_days is None
    monkeypatch.setenv("BOT_RETAIN_MEDIA_DAYS", "a month")
    with pytest.raises(ConfigError, match=r"BOT_RETAIN_MEDIA_DAYS .* whole number of days"):
        load_settings(env_file=None)


def test_sandbox_admin_token_is_random_and_flagged_generated() -> None:
    """In sandbox mode an unset BOT_ADMIN_TOKEN becomes a fresh random token, flagged so `bot serve` prints it."""
    first = load_settings(env_file=None)
    second = load_settings(env_file=None)
    assert first.generated_admin_token is True
    assert len(first.admin_token) >= 24
    assert first.admin_token != second.admin_token


def test_sandbox_secret_key_is_random_per_start() -> None:
    """In sandbox mode an unset BOT_SECRET_KEY becomes a random key that differs on every start."""
    first = load_settings(env_file=None)
    second = load_settings(env_file=None)
    assert len(first.secret_key) >= 32
    assert first.secret_key != second.secret_key
    assert first.secret_key != first.admin_token


def test_sandbox_admin_token_from_environment_is_not_generated(monkeypatch: pytest.MonkeyPatch) -> None:
    """A BOT_ADMIN_TOKEN given in sandbox mode is used as is and not flagged as generated."""
    monkeypatch.setenv("BOT_ADMIN_TOKEN", "my-fixed-admin-token")
    settings = load_settings(env_file=None)
    assert settings.admin_token == "my-fixed-admin-token"
    assert settings.generated_admin_token is False


def test_empty_access_token_means_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty WHATSAPP_ACCESS_TOKEN counts as unset: sandbox mode, not a real mode missing everything."""
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "")
    settings = load_settings(env_file=None)
    assert settings.sandbox is True
    assert settings.access_token is None


def test_sandbox_values_may_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sandbox defaults give way to values set in the environment."""
    set_env(
        monkeypatch,
        {
            "WHATSAPP_PHONE_NUMBER_ID": "999888777666555",
            "WHATSAPP_APP_SECRET": "custom-app-secret",
            "WHATSAPP_VERIFY_TOKEN": "custom-verify",
            "WHATSAPP_API_URL": "http://127.0.0.1:9999/sandbox",
        },
    )
    settings = load_settings(env_file=None)
    assert settings.sandbox is True
    assert settings.phone_number_id == "999888777666555"
    assert settings.app_secret == "custom-app-secret"
    assert settings.verify_token == "custom-verify"
    assert settings.api_url == "http://127.0.0.1:9999/sandbox"


# --- environment and .env -----------------------------------------------------------------------------


def test_every_variable_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each documented environment variable lands in its setting."""
    set_env(
        monkeypatch,
        {
            **REAL_MODE,
            "BOT_DATABASE_URL": "postgresql+asyncpg://bot@db:5432/bot",
            "WHATSAPP_API_URL": "https://graph.example.test",
            "WHATSAPP_API_VERSION": "v26.0",
            "BOT_THROUGHPUT": "250",
            "BOT_TIMEZONE": "Europe/Amsterdam",
            "BOT_LOG_LEVEL": "DEBUG",
            "BOT_LOG_FORMAT": "console",
        },
    )
    settings = load_settings(env_file=None)
    assert settings.sandbox is False
    assert settings.access_token == "EAAG-real-access-token"
    assert settings.phone_number_id == "123456789012345"
    assert settings.app_secret == "real-app-secret"
    assert settings.verify_token == "real-verify-token"
    assert settings.secret_key == "real-secret-key"
    assert settings.admin_token == "real-admin-token"
    assert settings.generated_admin_token is False
    assert settings.database_url == "postgresql+asyncpg://bot@db:5432/bot"
    assert settings.api_url == "https://graph.example.test"
    assert settings.api_version == "v26.0"
    assert settings.throughput == 250
    assert settings.business_timezone == "Europe/Amsterdam"
    assert settings.log_level == "debug"
    assert settings.log_format == "console"


def test_real_mode_defaults_to_the_graph_api() -> None:
    """With an access token and no WHATSAPP_API_URL the client talks to graph.facebook.com."""
    settings = load_settings(env_file=None, **REAL_MODE)
    assert settings.api_url == DEFAULT_API_URL == "https://graph.facebook.com"


def test_settings_are_read_from_a_dotenv_file(tmp_path: Path) -> None:
    """A `.env` file holds the same variables as the environment, comments and quotes included."""
    env_file = tmp_path / "custom.env"
    env_file.write_text(
        "# production settings\n"
        'WHATSAPP_ACCESS_TOKEN="EAAG-from-file"\n'
        "WHATSAPP_PHONE_NUMBER_ID=111222333444555\n"
        "WHATSAPP_APP_SECRET='file-app-secret'\n"
        "WHATSAPP_VERIFY_TOKEN=file-verify\n"
        "BOT_SECRET_KEY=file-secret-key\n"
        "BOT_ADMIN_TOKEN=file-admin-token\n"
        "BOT_DATABASE_URL=sqlite:///data/bot.db\n"
        "BOT_THROUGHPUT=500\n"
    )
    settings = load_settings(env_file=env_file)
    assert settings.access_token == "EAAG-from-file"
    assert settings.phone_number_id == "111222333444555"
    assert settings.app_secret == "file-app-secret"
    assert settings.verify_token == "file-verify"
    assert settings.secret_key == "file-secret-key"
    assert settings.admin_token == "file-admin-token"
    assert settings.database_url == "sqlite+aiosqlite:///data/bot.db"
    assert settings.throughput == 500


def test_default_dotenv_is_read_from_the_working_directory(tmp_path: Path) -> None:
    """`load_settings()` reads `.env` in the working directory by default."""
    (tmp_path / ".env").write_text("BOT_ADMIN_TOKEN=from-dotenv\nBOT_TIMEZONE=America/Sao_Paulo\n")
    settings = load_settings()
    assert settings.admin_token == "from-dotenv"
    assert settings.business_timezone == "America/Sao_Paulo"


def test_environment_wins_over_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A variable set in the environment takes precedence over the same one in `.env`."""
    (tmp_path / ".env").write_text("BOT_ADMIN_TOKEN=from-dotenv\nBOT_THROUGHPUT=10\n")
    monkeypatch.setenv("BOT_ADMIN_TOKEN", "from-environment")
    settings = load_settings(env_file=tmp_path / ".env")
    assert settings.admin_token == "from-environment"
    assert settings.throughput == 10


def test_missing_dotenv_file_is_not_an_error(tmp_path: Path) -> None:
    """A named `.env` file that does not exist is skipped rather than refused."""
    settings = load_settings(env_file=tmp_path / "absent.env")
    assert settings.sandbox is True


def test_env_file_none_ignores_dotenv(tmp_path: Path) -> None:
    """`env_file=None` reads the environment only, even when a `.env` sits in the working directory."""
    (tmp_path / ".env").write_text("BOT_ADMIN_TOKEN=from-dotenv\n")
    settings = load_settings(env_file=None)
    assert settings.admin_token != "from-dotenv"
    assert settings.generated_admin_token is True


# --- real mode ----------------------------------------------------------------------------------------


def test_real_mode_with_everything_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the access token and every required variable, settings load in real (non-sandbox) mode."""
    set_env(monkeypatch, REAL_MODE)
    settings = load_settings(env_file=None)
    assert settings.sandbox is False
    assert settings.generated_admin_token is False


def test_real_mode_names_every_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An access token alone is refused with a ConfigError that names every variable real mode needs."""
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "EAAG-real-access-token")
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    message = caught.value.message
    assert "WHATSAPP_ACCESS_TOKEN" in message
    for name in REQUIRED_IN_REAL_MODE:
        assert name in message


@pytest.mark.parametrize("missing", REQUIRED_IN_REAL_MODE)
def test_real_mode_names_the_one_missing_variable(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    """Real mode missing one required variable fails naming exactly that one."""
    set_env(monkeypatch, {k: v for k, v in REAL_MODE.items() if k != missing})
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    message = caught.value.message
    assert missing in message
    for other in REQUIRED_IN_REAL_MODE:
        if other != missing:
            assert other not in message


def test_real_mode_does_not_fall_back_to_sandbox_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real mode never uses the sandbox's well-known app secret or verify token."""
    set_env(monkeypatch, REAL_MODE)
    settings = load_settings(env_file=None)
    assert settings.app_secret != SANDBOX_APP_SECRET
    assert settings.verify_token != SANDBOX_VERIFY_TOKEN


def test_redactable_lists_secrets_but_not_public_sandbox_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The values handed to log redaction are the real secrets, not the sandbox's published defaults."""
    sandbox = load_settings(env_file=None)
    assert sandbox.admin_token in sandbox.redactable()
    assert sandbox.secret_key in sandbox.redactable()
    assert SANDBOX_APP_SECRET not in sandbox.redactable()
    assert SANDBOX_VERIFY_TOKEN not in sandbox.redactable()
    set_env(monkeypatch, REAL_MODE)
    real = load_settings(env_file=None)
    for name in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "BOT_SECRET_KEY"):
        assert REAL_MODE[name] in real.redactable()
    assert REAL_MODE["BOT_ADMIN_TOKEN"] in real.redactable()


# --- database URL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///bot.db", "sqlite+aiosqlite:///bot.db"),
        ("sqlite:////var/lib/bot/bot.db", "sqlite+aiosqlite:////var/lib/bot/bot.db"),
        ("sqlite+aiosqlite:///bot.db", "sqlite+aiosqlite:///bot.db"),
        ("postgresql://bot:pw@db:5432/bot", "postgresql+asyncpg://bot:pw@db:5432/bot"),
        ("postgres://bot@db/bot", "postgresql+asyncpg://bot@db/bot"),
        ("postgresql+asyncpg://bot@db/bot", "postgresql+asyncpg://bot@db/bot"),
        ("SQLITE:///bot.db", "sqlite+aiosqlite:///bot.db"),
    ],
)
def test_database_url_is_normalised_to_an_async_driver(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    """sqlite:// and postgresql:// (and postgres://) URLs are mapped to aiosqlite and asyncpg."""
    monkeypatch.setenv("BOT_DATABASE_URL", given)
    assert load_settings(env_file=None).database_url == expected
    assert normalise_database_url(given) == expected


@pytest.mark.parametrize("url", ["mysql://bot:pw@db/bot", "oracle://db/bot", "postgresql+psycopg2://db/bot"])
def test_unknown_database_scheme_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """An unsupported database scheme fails with a ConfigError naming the variable, the scheme and what works."""
    monkeypatch.setenv("BOT_DATABASE_URL", url)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    message = caught.value.message
    assert "BOT_DATABASE_URL" in message
    assert repr(url.split("://")[0]) in message
    assert "sqlite+aiosqlite" in message
    assert "postgresql+asyncpg" in message
    assert "pw" not in message  # the password part of the URL is never echoed


def test_database_url_without_scheme_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare path instead of a URL fails with a ConfigError showing a correct example."""
    monkeypatch.setenv("BOT_DATABASE_URL", "bot.db")
    with pytest.raises(ConfigError, match=r"BOT_DATABASE_URL is not a URL; expected e\.g\. sqlite\+aiosqlite"):
        load_settings(env_file=None)


# --- bounds and formats -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "80", "1000"])
def test_throughput_within_bounds_is_accepted(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """BOT_THROUGHPUT accepts Meta's range, 1 to 1,000 messages per second."""
    monkeypatch.setenv("BOT_THROUGHPUT", value)
    assert load_settings(env_file=None).throughput == int(value)


@pytest.mark.parametrize("value", ["0", "-5", "1001", "fast"])
def test_throughput_out_of_bounds_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """BOT_THROUGHPUT outside 1..1000 (or not a number) is a ConfigError naming the variable."""
    monkeypatch.setenv("BOT_THROUGHPUT", value)
    with pytest.raises(ConfigError, match="BOT_THROUGHPUT"):
        load_settings(env_file=None)


@pytest.mark.parametrize("value", ["Mars/Olympus_Mons", "", "../../etc/passwd", "UTC+2"])
def test_bad_timezone_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """A BOT_TIMEZONE that is not an IANA time zone is a ConfigError naming the variable and the value."""
    monkeypatch.setenv("BOT_TIMEZONE", value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    assert "BOT_TIMEZONE" in caught.value.message
    assert repr(value) in caught.value.message


@pytest.mark.parametrize(
    ("name", "value"),
    [("BOT_LOG_LEVEL", "verbose"), ("BOT_LOG_FORMAT", "xml"), ("WHATSAPP_API_VERSION", "25.0")],
)
def test_bad_values_name_their_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """A malformed log level, log format or API version is a ConfigError naming the environment variable."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings(env_file=None)


def test_overrides_take_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyword overrides to `load_settings` beat the environment (tests and tools rely on it)."""
    monkeypatch.setenv("BOT_THROUGHPUT", "10")
    assert load_settings(env_file=None, BOT_THROUGHPUT=20).throughput == 20


# --- the CLI ------------------------------------------------------------------------------------------


def test_cli_check_accepts_good_settings(capsys: pytest.CaptureFixture[str]) -> None:
    """`bot check` with valid settings (and the shipped templates) exits 0 and reports the mode."""
    root = Path(__file__).resolve().parents[1]
    assert main(["check", "--templates", str(root / "templates"), "--flows", str(root / "flows")]) == 0
    captured = capsys.readouterr()
    assert "settings ok: sandbox" in captured.out
    assert captured.err == ""


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("BOT_THROUGHPUT", "5000", "BOT_THROUGHPUT"),
        ("BOT_TIMEZONE", "Nowhere/City", "BOT_TIMEZONE 'Nowhere/City' is not an IANA time zone"),
        ("BOT_DATABASE_URL", "mysql://db/bot", "BOT_DATABASE_URL has the unknown scheme 'mysql'"),
        ("WHATSAPP_ACCESS_TOKEN", "EAAG-token", "BOT_SECRET_KEY"),
    ],
)
def test_cli_exits_2_with_a_one_line_error_for_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str, expected: str
) -> None:
    """A bad setting makes `bot` exit 2 with `bot: error: ...` on stderr and no traceback."""
    monkeypatch.setenv(variable, value)
    assert main(["check"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("bot: error: ")
    assert expected in captured.err
    assert "Traceback" not in captured.err
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_cli_reads_the_named_env_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`bot --env-file PATH` reads that file, so a bad value in it is reported the same way."""
    env_file = tmp_path / "prod.env"
    env_file.write_text("BOT_THROUGHPUT=0\n")
    assert main(["--env-file", str(env_file), "check"]) == 2
    assert capsys.readouterr().err.startswith("bot: error: invalid settings: BOT_THROUGHPUT")


def test_cli_db_upgrade_reports_bad_settings_before_touching_a_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`bot db upgrade` with an unsupported database scheme exits 2 with the error and creates nothing."""
    monkeypatch.setenv("BOT_DATABASE_URL", "mysql://db/bot")
    assert main(["db", "upgrade"]) == 2
    assert capsys.readouterr().err.startswith("bot: error: BOT_DATABASE_URL has the unknown scheme")
    assert list(tmp_path.iterdir()) == []


def test_consent_keywords_are_read_as_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """BOT_OPT_OUT_KEYWORDS replaces the built-in words; unset keeps them; a list of nothing is refused."""
    assert load_settings(env_file=None).opt_out_keywords is None
    set_env(monkeypatch, {"BOT_OPT_OUT_KEYWORDS": "halt, no more ads ,"})
    assert load_settings(env_file=None).opt_out_keywords == ("halt", "no more ads")
    set_env(monkeypatch, {"BOT_OPT_IN_KEYWORDS": " , "})
    with pytest.raises(ConfigError, match="BOT_OPT_IN_KEYWORDS is set but holds no keyword"):
        load_settings(env_file=None)


# --- the rate card ------------------------------------------------------------------------------------


def test_rate_card_defaults_to_the_example_in_sandbox_mode_only() -> None:
    """Unset, BOT_RATE_CARD is the shipped example card in sandbox mode and no card when talking to Meta."""
    assert load_settings(env_file=None).rate_card == example_rate_card()
    assert load_settings(env_file=None, **REAL_MODE).rate_card is None


def test_rate_card_path_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """BOT_RATE_CARD names the card's path; `none` turns estimates off, in the sandbox too."""
    monkeypatch.setenv("BOT_RATE_CARD", "rates/2026.csv")
    assert load_settings(env_file=None).rate_card == Path("rates/2026.csv")
    monkeypatch.setenv("BOT_RATE_CARD", "none")
    assert load_settings(env_file=None).rate_card is None


def test_cli_check_reports_a_bad_rate_card(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`bot check` reads BOT_RATE_CARD and reports a bad row as path:line:col, exiting 1."""
    card = tmp_path / "rates.csv"
    card.write_text("country_calling_code,category,price,currency,valid_from\n31,utility,0.05,EUR,2025-13-01\n")
    monkeypatch.setenv("BOT_RATE_CARD", str(card))
    templates = Path(__file__).resolve().parents[1] / "templates"
    assert main(["check", "--templates", str(templates)]) == 1
    captured = capsys.readouterr()
    assert f"{card}:2:21: error: valid_from '2025-13-01' must be a date as YYYY-MM-DD" in captured.err
    assert "rate card: 1 error(s), 0 warning(s)" in captured.out


def test_cli_check_reads_the_example_card(capsys: pytest.CaptureFixture[str]) -> None:
    """In sandbox mode `bot check` reads the shipped example card and finds nothing wrong."""
    root = Path(__file__).resolve().parents[1]
    assert main(["check", "--templates", str(root / "templates"), "--flows", str(root / "flows")]) == 0
    assert "rate card: 0 error(s), 0 warning(s)" in capsys.readouterr().out


def test_env_example_shows_every_setting_with_its_default() -> None:
    """`.env.example` names every variable the service reads, and each value it shows is the default."""
    text = (Path(__file__).resolve().parents[1] / ".env.example").read_text(encoding="utf-8")
    shown = dict(re.findall(r"^# ([A-Z][A-Z_]+)=(.*)$", text, re.MULTILINE))
    assert set(shown) == {field.alias for field in _Environment.model_fields.values()}

    def comparable(settings: Settings) -> Settings:  # the random per-start secrets aside
        return replace(settings, admin_token="", secret_key="")

    given = {name: value for name, value in shown.items() if value}
    assert comparable(load_settings(None, **given)) == comparable(load_settings(None))
