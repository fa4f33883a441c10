"""The app-wide keys: settings, the clock, metrics and the database; every other key lives beside what it holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import ChainMapProxy, web

from bot.metrics import Metrics
from bot.settings import Settings
from storage.repository import Repository

# Where the keys are read: the application itself, or a request's `config_dict` (from a sub-application).
Config = web.Application | ChainMapProxy

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
METRICS = web.AppKey("metrics", Metrics)
REPOSITORY = web.AppKey("repository", Repository)
REQUEST_ID = web.RequestKey("request_id", str)  # set by the main app's `observe` middleware
