"""Typed keys for what `create_app` puts on the application."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import ChainMapProxy, web

from bot.api.token import WrongGuesses
from bot.inbound.content import LiveContent
from bot.inbound.dispatcher import Dispatcher
from bot.inbound.ingest import Ingestor
from bot.message_templates.library import Templates
from bot.metrics import Metrics
from bot.notifications.scheduler import Scheduler
from bot.notifications.service import NotificationService
from bot.otp.service import OtpService
from bot.outbound.sender import Sender
from bot.settings import Settings
from bot.whatsapp.client import CloudAPIClient
from storage.repository import Repository

# Where the keys are read: the application itself, or a request's `config_dict` (from a sub-application).
Config = web.Application | ChainMapProxy

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
GUESSES = web.AppKey("guesses", WrongGuesses)
METRICS = web.AppKey("metrics", Metrics)
REPOSITORY = web.AppKey("repository", Repository)
INGESTOR = web.AppKey("ingestor", Ingestor)
CLIENT = web.AppKey("cloud_api_client", CloudAPIClient)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
SENDER = web.AppKey("sender", Sender)
TEMPLATES: web.AppKey[Templates] = web.AppKey("templates")  # the live library: what the content in use holds
OTP = web.AppKey("otp", OtpService)
NOTIFICATIONS = web.AppKey("notifications", NotificationService)
SCHEDULER = web.AppKey("scheduler", Scheduler)
CONTENT = web.AppKey("content", LiveContent)
