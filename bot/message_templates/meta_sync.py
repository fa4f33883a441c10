"""`bot templates push` and `sync`: the template files submitted to Meta when new or changed, and Meta's word read back.

Push compares each template's creation JSON (its SHA-256) with what was last pushed: a new template is
submitted, a changed one edited (by the id Meta gave it), an unchanged one left alone. Meta reviews them
and says how through its webhooks. Sync reads every template's status and category, and the number's
quality and messaging limit, and records what changed exactly as those webhooks would
(`storage.lifecycle`), so a deployment whose webhooks were missed catches up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bot.errors import CloudAPIError, TransientError
from bot.message_templates.export import export
from bot.message_templates.library import TemplateLibrary
from bot.settings import Settings
from bot.whatsapp.template_api import TemplateAPI
from storage import lifecycle
from storage.lifecycle import Report
from storage.repository import Repository


@dataclass(frozen=True)
class Pushed:
    """What push did with one template: created, edited, unchanged or refused (with Meta's message)."""

    name: str
    language: str
    action: str
    detail: str | None = None


def content_hash(document: dict[str, Any]) -> str:
    """The SHA-256 of a template's creation JSON, keys sorted: what push compares."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def push(
    library: TemplateLibrary, api: TemplateAPI, repository: Repository, clock: Callable[[], datetime]
) -> list[Pushed]:
    """Submit the new and changed Meta-bound templates; a refusal of one is reported and the rest go on."""
    known = await repository.meta_word()
    done: list[Pushed] = []
    for template in (t for t in library if t.meta_bound):
        document = export(template)
        digest = content_hash(document)
        state = known.get((template.name, template.language))
        if state is not None and state.content_hash == digest:
            done.append(Pushed(template.name, template.language, "unchanged"))
            continue
        try:
            if state is not None and state.meta_id:
                answer, action = await api.edit(state.meta_id, document), "edited"
            else:
                answer, action = await api.submit(document), "created"
        except TransientError:
            raise  # Meta unreachable or failing: the rest would fail alike; push again later
        except CloudAPIError as exc:
            done.append(Pushed(template.name, template.language, "refused", f"({exc.error_code}) {exc.message}"))
            continue
        async with repository.transaction() as conn:
            await lifecycle.record_push(
                conn, name=template.name, language=template.language, content_hash=digest, meta_id=answer.id,
                now=clock(),
            )  # fmt: skip
        done.append(Pushed(template.name, template.language, action, answer.status))
    return done


async def sync(api: TemplateAPI, repository: Repository, clock: Callable[[], datetime]) -> list[Report]:
    """Read Meta's templates and the number's record; record what differs from what is known; answer it."""
    now = clock()
    listed, number = await api.templates(), await api.number()
    known = await repository.meta_word()
    reports: list[Report] = []
    for item in listed:
        name, language = _text(item.get("name")), _text(item.get("language"))
        if name is None or language is None:
            continue
        state = known.get((name, language))
        common: dict[str, Any] = {"subject": f"{name}:{language}", "template_name": name,
                                  "template_language": language, "template_id": _text(item.get("id")), "at": now,
                                  "raw": item}  # fmt: skip
        status = (_text(item.get("status")) or "").upper() or None
        if status is not None and (state is None or state.status != status):
            reason = _text(item.get("rejected_reason"))
            reason = None if reason in (None, "NONE") else reason
            old = state.status if state else None
            reports.append(Report("template_status", status, old_value=old, new_value=status, reason=reason, **common))
        category = (_text(item.get("category")) or "").lower() or None
        if category is not None and state is not None and state.category and state.category != category:
            old = state.category.upper()
            reports.append(Report("template_category", None, old_value=old, new_value=category.upper(), reason=None,
                                  **common))  # fmt: skip
    reports += await _number_report(repository, number, now)
    if reports:
        async with repository.transaction() as conn:
            await lifecycle.record(conn, reports, source="sync")
    return reports


async def _number_report(repository: Repository, number: dict[str, Any], now: datetime) -> list[Report]:
    """The number's quality and tier, when they differ from what is known of it."""
    phone_number_id, display = _text(number.get("id")), _text(number.get("display_phone_number"))
    digits = "".join(c for c in display or "" if c.isascii() and c.isdigit()) or None
    quality = (_text(number.get("quality_rating")) or "").upper() or None
    tier = (_text(number.get("messaging_limit_tier")) or "").upper() or None
    async with repository.reading() as conn:
        current = await conn.run_sync(
            lambda sync: lifecycle.number_state_sync(sync, phone_number_id=phone_number_id, display_number=digits)
        )
    unchanged = current is not None and (current.quality, current.messaging_limit) == (quality, tier)
    if unchanged and current is not None and current.phone_number_id == phone_number_id:
        return []
    return [
        Report("number_quality", "SYNC", subject=digits or phone_number_id or "number",
               old_value=current.messaging_limit if current else None, new_value=tier,
               reason=f"quality {quality}" if quality else None,
               display_number=digits, quality=quality, at=now, raw=number, phone_number_id=phone_number_id)
    ]  # fmt: skip


def _text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


SANDBOX_API = "http://127.0.0.1:8080/sandbox"  # a `bot serve` in sandbox mode on its default address


async def run_command(settings: Settings, *, job: str, templates: Path, api_url: str | None) -> tuple[int, str]:
    """`bot templates push` or `sync` against Meta (or a running sandbox): the exit status and the report to print."""
    if not settings.business_account_id:
        return 2, "WHATSAPP_BUSINESS_ACCOUNT_ID is not set: push and sync manage that account's templates"
    base = api_url or settings.api_url or SANDBOX_API
    repository = Repository.connect(settings.database_url)
    try:
        await repository.migrate()
        async with aiohttp.ClientSession() as session:
            api = TemplateAPI(
                session, base_url=base, version=settings.api_version, account_id=settings.business_account_id,
                phone_number_id=settings.phone_number_id, access_token=settings.access_token or "sandbox",
            )  # fmt: skip
            if job == "push":
                pushed = await push(TemplateLibrary.load(templates), api, repository, _now)
                lines = [
                    f"{p.action:<9} {p.name} ({p.language})" + (f": {p.detail}" if p.detail else "") for p in pushed
                ]
                return (1 if any(p.action == "refused" for p in pushed) else 0), "\n".join(lines) or "no templates"
            reports = await sync(api, repository, _now)
    except CloudAPIError as exc:
        return 1, f"{base}: {exc.message}" + (f" (error {exc.error_code})" if exc.error_code else "")
    finally:
        await repository.close()
    lines = [f"{r.kind:<17} {r.subject}: {r.old_value or '-'} -> {r.new_value or '-'}" + (
        f" (quality {r.quality})" if r.quality else "") for r in reports]  # fmt: skip
    return 0, "\n".join(lines) or "nothing changed"


def _now() -> datetime:
    return datetime.now(UTC)
