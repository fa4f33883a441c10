"""Typed keys for what `create_app` puts on the application."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from aiohttp import web

from bot.cloudapi import CloudAPIClient
from bot.dispatcher import Dispatcher
from bot.flow import Flow
from bot.ingest import Ingestor
from bot.metrics import Metrics
from bot.notifications import NotificationService
from bot.otp_service import OtpService
from bot.scheduler import Scheduler
from bot.sender import Sender
from bot.settings import Settings
from bot.templates import TemplateLibrary
from storage.repository import Repository

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
METRICS = web.AppKey("metrics", Metrics)
REPOSITORY = web.AppKey("repository", Repository)
INGESTOR = web.AppKey("ingestor", Ingestor)
CLIENT = web.AppKey("cloud_api_client", CloudAPIClient)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
SENDER = web.AppKey("sender", Sender)
TEMPLATES = web.AppKey("templates", TemplateLibrary)
OTP = web.AppKey("otp", OtpService)
NOTIFICATIONS = web.AppKey("notifications", NotificationService)
SCHEDULER = web.AppKey("scheduler", Scheduler)
FLOWS: web.AppKey[Mapping[str, Flow]] = web.AppKey("flows")
