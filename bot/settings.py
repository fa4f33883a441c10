"""The service's settings, read from the environment and an optional `.env` file."""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError
from bot.whatsapp.rate_card import example_rate_card

DISTRIBUTION = "whatsapp-conversation-service"  # pyproject.toml's project name
SANDBOX_PHONE_NUMBER_ID = "106540352242922"
SANDBOX_DISPLAY_NUMBER = "15550783881"
SANDBOX_BUSINESS_ACCOUNT_ID = "102290129340398"  # Meta's own sample account id
SANDBOX_APP_SECRET = "sandbox-app-secret"
SANDBOX_VERIFY_TOKEN = "sandbox-verify-token"
DEFAULT_API_URL = "https://graph.facebook.com"
DEFAULT_QUIET_HOURS = "21:00-08:00"
DEFAULT_MESSAGING_LIMIT = "250"
# Days raw webhook bodies and message texts are kept (BOT_RETAIN_WEBHOOKS_DAYS, BOT_RETAIN_TEXTS_DAYS).
DEFAULT_RETAIN_WEBHOOKS_DAYS = 30
DEFAULT_RETAIN_TEXTS_DAYS = 90
MAX_RETAIN_DAYS = 36_500

# Meta's messaging-limit tiers: unique users reached outside a customer service window per rolling 24 h.
TIERS = (250, 2_000, 10_000, 100_000)
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class QuietHours:
    """A local time span (e.g. 21:00-08:00, crossing midnight) when non-urgent messages wait."""

    start: time
    end: time

    def until(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """When the quiet hours around `now` (read in `zone`) end, or None when `now` is not inside them."""
        local = now.astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        if self.start <= self.end:
            inside, end_day = self.start <= clock < self.end, local.date()
        else:  # crossing midnight: inside after the start tonight or before the end this morning
            inside = clock >= self.start or clock < self.end
            end_day = local.date() + timedelta(days=1) if clock >= self.start else local.date()
        if not inside:
            return None
        # An end the spring-forward gap skips (02:30) is read with the offset before the gap: 03:30.
        end = datetime.combine(end_day, self.end, tzinfo=zone)
        return end.astimezone(now.tzinfo)


def parse_quiet_hours(text: str) -> QuietHours | None:
    """`HH:MM-HH:MM` (e.g. `21:00-08:00`); empty or `off` turns quiet hours off."""
    value = text.strip().lower()
    if value in ("", "off", "none"):
        return None
    start, sep, end = value.partition("-")
    matches = _CLOCK.match(start.strip()), _CLOCK.match(end.strip())
    if not sep or not all(matches):
        raise ConfigError(f"BOT_QUIET_HOURS {text!r} is not a span like 21:00-08:00 (or off)")
    first, last = (time(int(m[1]), int(m[2])) for m in matches if m)
    if first == last:
        raise ConfigError(f"BOT_QUIET_HOURS {text!r} starts and ends at the same time; use off to turn them off")
    return QuietHours(first, last)


def parse_messaging_limit(text: str) -> int | None:
    """Meta's tier as a number of users (250, 2000, 10000, 100000) or `unlimited` (None)."""
    value = text.strip().lower().replace(",", "").replace("_", "")
    if value == "unlimited":
        return None
    if value.isdecimal() and int(value) in TIERS:
        return int(value)
    tiers = ", ".join(str(t) for t in TIERS)
    raise ConfigError(f"BOT_MESSAGING_LIMIT {text!r} is not one of Meta's tiers: {tiers} or unlimited")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MIN_ADMIN_TOKEN_LENGTH = 32
MIN_ADMIN_TOKEN_SYMBOLS = 8  # different characters: "a" * 32 is 32 characters and no secret
GENERATE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def parse_trusted_proxies(text: str | None) -> tuple[Network, ...]:
    """BOT_TRUSTED_PROXIES: comma-separated addresses or networks (`127.0.0.1, 10.0.0.0/8, ::1`)."""
    networks = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"BOT_TRUSTED_PROXIES: {item.strip()!r} is not an IP address or network") from None
    return tuple(networks)


def check_admin_token(settings: Settings) -> None:
    """Refuse an admin token that could be guessed: at least 32 characters, and not one character repeated.

    `bot serve` and `bot worker` check it at start. 32 URL-safe random characters are 192 bits; the guess
    limit only slows guessing per address (docs/operations.md), so the token's length is what protects it.
    """
    token = settings.admin_token
    if len(token) < MIN_ADMIN_TOKEN_LENGTH or len(set(token)) < MIN_ADMIN_TOKEN_SYMBOLS:
        raise ConfigError(
            f"BOT_ADMIN_TOKEN is too weak: use at least {MIN_ADMIN_TOKEN_LENGTH} random characters "
            f"({len(token)} given), e.g. from {GENERATE_TOKEN}"
        )


_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class _Environment(BaseSettings):
    """The raw environment, exactly as DESIGN.md names it; `Settings` is what the code reads."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=False)

    database_url: str = Field("sqlite+aiosqlite:///bot.db", alias="BOT_DATABASE_URL")
    admin_token: str | None = Field(None, alias="BOT_ADMIN_TOKEN")
    secret_key: str | None = Field(None, alias="BOT_SECRET_KEY")
    access_token: str | None = Field(None, alias="WHATSAPP_ACCESS_TOKEN")
    phone_number_id: str | None = Field(None, alias="WHATSAPP_PHONE_NUMBER_ID")
    business_account_id: str | None = Field(None, alias="WHATSAPP_BUSINESS_ACCOUNT_ID")
    app_secret: str | None = Field(None, alias="WHATSAPP_APP_SECRET")
    verify_token: str | None = Field(None, alias="WHATSAPP_VERIFY_TOKEN")
    api_url: str | None = Field(None, alias="WHATSAPP_API_URL")
    api_version: str = Field("v25.0", alias="WHATSAPP_API_VERSION")
    throughput: int = Field(80, alias="BOT_THROUGHPUT", ge=1, le=1000)
    business_timezone: str = Field("UTC", alias="BOT_TIMEZONE")
    reminder_lead_hours: float = Field(24.0, alias="BOT_REMINDER_LEAD_HOURS", gt=0, le=24 * 30)
    quiet_hours: str = Field(DEFAULT_QUIET_HOURS, alias="BOT_QUIET_HOURS")
    messaging_limit: str = Field(DEFAULT_MESSAGING_LIMIT, alias="BOT_MESSAGING_LIMIT")
    send_lease_seconds: float = Field(60.0, alias="BOT_SEND_LEASE_SECONDS", ge=1, le=3600)
    body_read_timeout_seconds: float = Field(30.0, alias="BOT_BODY_READ_TIMEOUT_SECONDS", gt=0, le=3600)
    events_timeout_seconds: float = Field(10.0, alias="BOT_EVENTS_TIMEOUT_SECONDS", gt=0, le=120)
    events_concurrency: int = Field(32, alias="BOT_EVENTS_CONCURRENCY", ge=1, le=1000)
    events_retry_seconds: float = Field(10.0, alias="BOT_EVENTS_RETRY_SECONDS", gt=0, le=3600)
    events_give_up_hours: float = Field(24.0, alias="BOT_EVENTS_GIVE_UP_HOURS", gt=0, le=24 * 7)
    opt_out_keywords: str | None = Field(None, alias="BOT_OPT_OUT_KEYWORDS")
    opt_in_keywords: str | None = Field(None, alias="BOT_OPT_IN_KEYWORDS")
    rate_card: str | None = Field(None, alias="BOT_RATE_CARD")
    retain_webhooks_days: str | None = Field(None, alias="BOT_RETAIN_WEBHOOKS_DAYS")
    retain_texts_days: str | None = Field(None, alias="BOT_RETAIN_TEXTS_DAYS")
    retain_media_days: str | None = Field(None, alias="BOT_RETAIN_MEDIA_DAYS")
    media_dir: str | None = Field(None, alias="BOT_MEDIA_DIR")
    log_level: str = Field("info", alias="BOT_LOG_LEVEL")
    log_format: str = Field("auto", alias="BOT_LOG_FORMAT", pattern="^(auto|json|console)$")
    reload: bool = Field(True, alias="BOT_RELOAD")
    endpoints_canned: str | None = Field(None, alias="BOT_ENDPOINTS_CANNED")
    trusted_proxies: str | None = Field(None, alias="BOT_TRUSTED_PROXIES")
    project_dir: str = Field(".", alias="BOT_PROJECT_DIR")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not value.startswith("v"):
            raise ValueError("must look like v25.0")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with; build it with `load_settings` or directly in tests."""

    database_url: str
    admin_token: str
    secret_key: str
    access_token: str | None
    phone_number_id: str
    app_secret: str
    verify_token: str
    api_url: str | None
    api_version: str
    throughput: int = 80
    business_timezone: str = "UTC"
    reminder_lead_hours: float = 24.0  # how long before an appointment its reminder goes out
    # Built directly (tests, embedding), Settings apply no quiet hours and no tier; `load_settings` gives the
    # product's defaults (21:00-08:00 and Meta's first tier, 250 users), which the environment can change.
    quiet_hours: QuietHours | None = None
    messaging_limit: int | None = None  # Meta's tier in users per rolling 24 h; None is unlimited
    send_lease: float = 60.0  # seconds a sender holds a claimed message before another may settle it
    body_read_timeout: float = 30.0  # seconds a streamed request body (a CSV import) may go without a byte arriving
    # Events out (docs/events.md): one request's deadline, requests in flight, the first retry's wait
    # (each later one doubles, up to an hour), and how long a delivery is tried before it is marked failed.
    events_timeout: float = 10.0
    events_concurrency: int = 32
    events_retry: float = 10.0
    events_give_up_hours: float = 24.0
    # Words that opt a customer out of (or back in to) marketing; None keeps the built-in lists.
    opt_out_keywords: tuple[str, ...] | None = None
    opt_in_keywords: tuple[str, ...] | None = None
    rate_card: Path | None = None  # the business's rate card (CSV) for cost estimates; None: costs are not estimated
    # Days raw webhook bodies and message texts are kept; None keeps them forever (as built directly:
    # tests, embedding). `load_settings` gives 30 and 90 unless the environment says otherwise.
    retain_webhooks_days: int | None = None
    retain_texts_days: int | None = None
    # Days inbound media files are kept (BOT_RETAIN_MEDIA_DAYS; unset: as long as message texts).
    retain_media_days: int | None = None
    # The media store's folder (BOT_MEDIA_DIR), relative to the working directory unless absolute.
    media_dir: Path = Path("media")
    log_level: str = "info"
    log_format: str = "auto"
    # Sandbox mode only: re-read flows and templates when their files change. Off when built directly
    # (tests, embedding); `load_settings` turns it on unless BOT_RELOAD=0.
    reload: bool = False
    generated_admin_token: bool = False
    # Sandbox mode only: a file of canned answers the business's endpoints give instead of being called.
    endpoints_canned: Path | None = None
    # The reverse proxies whose X-Forwarded-For is believed (BOT_TRUSTED_PROXIES); none by default.
    trusted_proxies: tuple[Network, ...] = ()
    # The bot project (BOT_PROJECT_DIR, `--project`): flows/, templates/, tests/transcripts/; `bot init` writes one.
    project_dir: Path = Path()
    # The WhatsApp Business Account whose templates `bot templates push` and `sync` manage; None: not configured.
    business_account_id: str | None = SANDBOX_BUSINESS_ACCOUNT_ID

    @property
    def sandbox(self) -> bool:
        """Sandbox mode: no Meta access token, so the built-in fake Graph API answers instead."""
        return self.access_token is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def project_path(self, *parts: str | Path) -> Path:
        """A file or folder of the project (`flows`, `templates`, ...): the one place such paths are resolved."""
        return project_path(self.project_dir, *parts)

    def with_api_url(self, api_url: str) -> Settings:
        return replace(self, api_url=api_url)

    def redactable(self) -> list[str]:
        """The secret values no log line may show."""
        values = [self.admin_token, self.secret_key, self.access_token, self.app_secret, self.verify_token]
        return [v for v in values if v and v not in (SANDBOX_APP_SECRET, SANDBOX_VERIFY_TOKEN)]


def project_path(project_dir: Path, *parts: str | Path) -> Path:
    """`parts` below the project folder (an absolute part stays as it is); in the working directory, `flows`."""
    return project_dir.joinpath(*parts)


def package_version() -> str:
    """The installed package's version, from its metadata (pyproject.toml's `version`): `bot --version`, the API."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def normalise_database_url(url: str) -> str:
    """Map `sqlite://` and `postgresql://` to their async drivers; refuse any other scheme clearly."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        # The value is not repeated: a URL without its scheme may still carry a password.
        raise ConfigError("BOT_DATABASE_URL is not a URL; expected e.g. sqlite+aiosqlite:///bot.db")
    driver = _DRIVERS.get(scheme.lower())
    if driver is None:
        raise ConfigError(
            f"BOT_DATABASE_URL has the unknown scheme {scheme!r}; use sqlite+aiosqlite:///PATH "
            "or postgresql+asyncpg://USER@HOST:PORT/DB"
        )
    return f"{driver}://{rest}"


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Read the environment (and `.env`), apply sandbox defaults, and fail with a `ConfigError` on bad values."""
    try:
        env = _Environment(_env_file=env_file, **overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{_alias(err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False))
        raise ConfigError(f"invalid settings: {problems}") from None
    try:
        ZoneInfo(env.business_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"BOT_TIMEZONE {env.business_timezone!r} is not an IANA time zone") from None
    return _resolve(env)


def _alias(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "?"
    field = _Environment.model_fields.get(name)
    return field.alias if field and field.alias else name


def _rate_card(value: str | None, sandbox: bool, project_dir: Path) -> Path | None:
    """BOT_RATE_CARD as a path (relative: in the project); unset, the shipped example card in sandbox mode and
    none otherwise; `none`: none."""
    if value is None or not value.strip():
        return example_rate_card() if sandbox else None
    return None if value.strip().lower() == "none" else project_path(project_dir, value.strip())


def _resolve(env: _Environment) -> Settings:
    sandbox = not env.access_token
    project_dir = Path(env.project_dir.strip() or ".")
    if not project_dir.is_dir():
        raise ConfigError(f"BOT_PROJECT_DIR {env.project_dir!r} is not a folder; `bot init DIR` writes a project")
    if not sandbox:
        missing = [
            alias
            for alias, value in (
                ("WHATSAPP_PHONE_NUMBER_ID", env.phone_number_id),
                ("WHATSAPP_APP_SECRET", env.app_secret),
                ("WHATSAPP_VERIFY_TOKEN", env.verify_token),
                ("BOT_SECRET_KEY", env.secret_key),
                ("BOT_ADMIN_TOKEN", env.admin_token),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                "WHATSAPP_ACCESS_TOKEN is set, so the service talks to Meta and needs: " + ", ".join(missing)
            )
    texts_days = _days(env.retain_texts_days, "BOT_RETAIN_TEXTS_DAYS", DEFAULT_RETAIN_TEXTS_DAYS)
    return Settings(
        database_url=normalise_database_url(env.database_url),
        admin_token=env.admin_token or secrets.token_urlsafe(24),
        generated_admin_token=not env.admin_token,
        secret_key=env.secret_key or secrets.token_urlsafe(32),
        access_token=env.access_token or None,
        phone_number_id=env.phone_number_id or SANDBOX_PHONE_NUMBER_ID,
        business_account_id=env.business_account_id or (SANDBOX_BUSINESS_ACCOUNT_ID if sandbox else None),
        app_secret=env.app_secret or SANDBOX_APP_SECRET,
        verify_token=env.verify_token or SANDBOX_VERIFY_TOKEN,
        api_url=env.api_url or (None if sandbox else DEFAULT_API_URL),
        api_version=env.api_version,
        throughput=env.throughput,
        business_timezone=env.business_timezone,
        reminder_lead_hours=env.reminder_lead_hours,
        quiet_hours=parse_quiet_hours(env.quiet_hours),
        messaging_limit=parse_messaging_limit(env.messaging_limit),
        send_lease=env.send_lease_seconds,
        body_read_timeout=env.body_read_timeout_seconds,
        events_timeout=env.events_timeout_seconds,
        events_concurrency=env.events_concurrency,
        events_retry=env.events_retry_seconds,
        events_give_up_hours=env.events_give_up_hours,
        opt_out_keywords=_words(env.opt_out_keywords, "BOT_OPT_OUT_KEYWORDS"),
        opt_in_keywords=_words(env.opt_in_keywords, "BOT_OPT_IN_KEYWORDS"),
        rate_card=_rate_card(env.rate_card, sandbox, project_dir),
        retain_webhooks_days=_days(env.retain_webhooks_days, "BOT_RETAIN_WEBHOOKS_DAYS", DEFAULT_RETAIN_WEBHOOKS_DAYS),
        retain_texts_days=texts_days,
        retain_media_days=_days_or(env.retain_media_days, "BOT_RETAIN_MEDIA_DAYS", texts_days),
        media_dir=Path(env.media_dir.strip()) if env.media_dir and env.media_dir.strip() else Path("media"),
        log_level=env.log_level,
        log_format=env.log_format,
        reload=env.reload,
        endpoints_canned=_canned(env.endpoints_canned, sandbox),
        trusted_proxies=parse_trusted_proxies(env.trusted_proxies),
        project_dir=project_dir,
    )


def _canned(value: str | None, sandbox: bool) -> Path | None:
    """BOT_ENDPOINTS_CANNED: only the sandbox may answer for the business's endpoints."""
    if not value:
        return None
    if not sandbox:
        raise ConfigError("BOT_ENDPOINTS_CANNED is for sandbox mode only: with Meta, the real endpoints answer")
    return Path(value)


def _words(value: str | None, name: str) -> tuple[str, ...] | None:
    """A comma-separated keyword list; unset keeps the defaults, and a list with no word is a mistake."""
    if value is None:
        return None
    words = tuple(w.strip() for w in value.split(",") if w.strip())
    if not words:
        raise ConfigError(f"{name} is set but holds no keyword; unset it to keep the built-in keywords")
    return words


def _days_or(value: str | None, name: str, default: int | None) -> int | None:
    """A retention in whole days that defaults to another one (None: kept forever) when unset or empty."""
    return default if value is None or not value.strip() else _days(value, name, 0)


def _days(value: str | None, name: str, default: int) -> int | None:
    """A retention in whole days: unset or empty gives the default, 0 keeps forever (None)."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    if not text.isdecimal() or int(text) > MAX_RETAIN_DAYS:
        raise ConfigError(f"{name} {value!r} is not a whole number of days from 0 (keep forever) to {MAX_RETAIN_DAYS}")
    return int(text) or None
