"""One-time codes at the I/O edge: pace and issue with `bot.otp.core`, send through the outbox, verify.

The rules live in `bot.otp.core`; this module only loads and stores challenges, renders the authentication
template and enqueues it. The same service backs `POST /api/otp` and, later, the flows' verification step.
Every number asked about is treated alike, known or not: pacing is keyed by the `wa_id` string, and the
answers are the same for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import OTPRefused, TemplateNotApproved, ValidationError
from bot.message_templates.library import Templates, to_cloud_api
from bot.otp import core as otp
from storage import otp as challenges
from storage.lifecycle import refusal
from storage.models import OtpChallengeBase
from storage.outbox import NewMessage, enqueue
from storage.repository import Repository

log = structlog.get_logger("bot.otp.core")

# Each purpose and the authentication template that carries its code.
PURPOSES = {"login": "login_code", "account_setup": "account_setup_code"}
# How far back challenges matter: pacing looks at the send window, verifying at the latest live code.
_LOOKBACK = max(otp.SEND_WINDOW, otp.CODE_LIFE)


@dataclass(frozen=True)
class OtpService:
    """Sends and checks one-time codes; `on_enqueued` wakes the sender so a code goes out at once."""

    repository: Repository
    library: Templates
    secret_key: str
    clock: Callable[[], datetime]
    on_enqueued: Callable[[], None] = lambda: None

    def template_for(self, purpose: str) -> str:
        """The authentication template of `purpose`; an unknown purpose is a `ValidationError` naming the known."""
        name = PURPOSES.get(purpose)
        if name is None:
            raise ValidationError(f"purpose {purpose!r} is not one of {', '.join(sorted(PURPOSES))}")
        return name

    async def request_code(self, wa_id: str, purpose: str) -> None:
        """Issue a code and queue its template ahead of every other kind; `OTPRefused` when pacing says no.

        `TemplateNotApproved` when Meta has not approved the template: the code would never arrive.
        """
        template = self.library.get(self.template_for(purpose))
        refused = refusal((await self.repository.meta_word()).get((template.name, template.language)))
        if refused is not None:
            raise TemplateNotApproved(refused)
        async with self.repository.otp_transaction(wa_id, purpose) as conn:
            await self.request_code_in(conn, wa_id, purpose)
        self.on_enqueued()

    async def request_code_in(self, conn: AsyncConnection, wa_id: str, purpose: str) -> None:
        """`request_code` inside the caller's transaction (a flow's verify step, in its turn).

        The caller wakes the sender after committing. On PostgreSQL the (number, purpose) pair is locked
        for the rest of the transaction, as `Repository.otp_transaction` does.
        """
        template = self.library.get(self.template_for(purpose))
        now = self.clock()
        await self.repository.lock_otp_pair(conn, wa_id, purpose)
        recent = await challenges.recent_challenges(conn, wa_id=wa_id, purpose=purpose, since=now - _LOOKBACK)
        history = otp.SendHistory.from_challenges(_challenge(row) for row in recent)
        try:
            challenge, code = otp.issue(self.secret_key, purpose=purpose, contact=wa_id, now=now, history=history)
        except OTPRefused as exc:
            log.info("otp.refused", purpose=purpose, wa_id=wa_id, reason=exc.reason)
            raise
        challenge_id = await challenges.add_challenge(conn, _row(challenge))
        contact_id = await challenges.ensure_contact(conn, wa_id, now)
        payload = to_cloud_api(template, wa_id, {"code": code.reveal()})
        message = NewMessage(
            kind="otp",
            contact_id=contact_id,
            recipient=wa_id,
            payload=payload,
            due_at=now,
            template_name=template.name,
            template_category=template.category,
            idempotency_key=f"otp:{challenge_id}",
            subject=f"otp:{challenge_id}",
        )
        await enqueue(conn, [message], now)
        log.info("otp.requested", purpose=purpose, wa_id=wa_id, challenge_id=challenge_id)

    async def verify_code(self, wa_id: str, purpose: str, code: str) -> bool:
        """Whether `code` is the live code for (`wa_id`, `purpose`); a wrong one costs a try, a right one uses it."""
        async with self.repository.otp_transaction(wa_id, purpose) as conn:
            return await self.verify_code_in(conn, wa_id, purpose, code)

    async def verify_code_in(self, conn: AsyncConnection, wa_id: str, purpose: str, code: str) -> bool:
        """`verify_code` inside the caller's transaction."""
        self.template_for(purpose)
        now = self.clock()
        await self.repository.lock_otp_pair(conn, wa_id, purpose)
        recent = await challenges.recent_challenges(conn, wa_id=wa_id, purpose=purpose, since=now - _LOOKBACK)
        latest = recent[-1] if recent else None
        result = otp.verify(_challenge(latest) if latest else None, self.secret_key, code=code, now=now)
        if latest is not None and latest.id is not None and result.challenge is not None:
            after = result.challenge
            if (after.attempts, after.used_at) != (latest.attempts, latest.used_at):
                await challenges.record_attempt(conn, latest.id, attempts=after.attempts, used_at=after.used_at)
        log.info("otp.checked", purpose=purpose, wa_id=wa_id, outcome=result.outcome)
        return result.verified


def _challenge(row: OtpChallengeBase) -> otp.Challenge:
    return otp.Challenge(
        purpose=row.purpose,
        contact=row.wa_id,
        digest=row.digest,
        created_at=row.created_at,
        expires_at=row.expires_at,
        attempts=row.attempts,
        used_at=row.used_at,
    )


def _row(challenge: otp.Challenge) -> OtpChallengeBase:
    return OtpChallengeBase(
        wa_id=challenge.contact,
        purpose=challenge.purpose,
        digest=challenge.digest,
        created_at=challenge.created_at,
        expires_at=challenge.expires_at,
        attempts=challenge.attempts,
        used_at=challenge.used_at,
    )


OTP = web.AppKey("otp", OtpService)
