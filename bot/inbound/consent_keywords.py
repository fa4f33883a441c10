"""Marketing STOP and START, taken before any flow: the keywords, and the handler that records them.

A customer who writes STOP (or UNSUBSCRIBE, STOP PROMOTIONS, or their Dutch, German, French, Spanish
or Portuguese forms) or taps a marketing template's "Stop promotions" button is opted out of marketing
in the turn's own transaction, which also cancels every marketing message still queued for them; they
get one confirmation and their conversation with the flows carries on untouched. START and the like opt
them in again. Meta requires that opting out be this easy:
https://developers.facebook.com/docs/whatsapp/overview/getting-opt-in
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.inbound.dispatcher import TurnHandler, TurnResult
from bot.message_templates.library import Templates, to_cloud_api
from storage import consent
from storage.consent import OPT_IN, OPT_OUT, ConsentChange
from storage.consent_guard import ConsentGuard
from storage.models import ContactBase, MessageBase, SessionBase

log = structlog.get_logger("bot.inbound.consent_keywords")

# Normalised keyword → the language to confirm in when the contact's own language is unknown.
OPT_OUT_KEYWORDS: Mapping[str, str] = {
    "stop": "en", "unsubscribe": "en", "stop promotions": "en", "opt out": "en", "stop all": "en",
    "afmelden": "nl", "uitschrijven": "nl", "stop promoties": "nl", "stop aanbiedingen": "nl",
    "stopp": "de", "abmelden": "de", "abbestellen": "de", "stopp werbung": "de", "keine werbung": "de",
    "arret": "fr", "arreter": "fr", "desabonner": "fr", "se desabonner": "fr", "desinscrire": "fr",
    "stop promos": "fr",
    "baja": "es", "darme de baja": "es", "dar de baja": "es", "cancelar suscripcion": "es",
    "detener": "es", "no mas promociones": "es",
    "parar": "pt_BR", "descadastrar": "pt_BR", "cancelar inscricao": "pt_BR", "parar promocoes": "pt_BR",
}  # fmt: skip
OPT_IN_KEYWORDS: Mapping[str, str] = {
    "start": "en", "subscribe": "en", "unstop": "en", "start promotions": "en", "opt in": "en",
    "aanmelden": "nl", "inschrijven": "nl",
    "anmelden": "de", "abonnieren": "de",
    "abonner": "fr", "s abonner": "fr", "reprendre": "fr",
    "alta": "es", "suscribir": "es", "suscribirme": "es",
    "inscrever": "pt_BR", "assinar": "pt_BR", "voltar a receber": "pt_BR",
}  # fmt: skip

CONFIRMATIONS = {OPT_OUT: "marketing_stopped", OPT_IN: "marketing_started"}
_SEPARATORS = re.compile(r"[\s_\-'\u2019.,!?¡¿:;\"()]+")


def normalise(text: str) -> str:
    """Case, accents, punctuation and spacing folded away: 'Stop!', 'STOP_PROMOTIONS', 'Arrêt' compare plainly."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", bare).strip()


@dataclass(frozen=True)
class Intent:
    """What a message asked for: `opt_in` or `opt_out`, how (`keyword` or `button`), in which language."""

    action: str
    source: str
    language: str | None


@dataclass(frozen=True)
class Keywords:
    """The words that opt out and in; a business may replace either list (`BOT_OPT_OUT_KEYWORDS`, …)."""

    opt_out: Mapping[str, str | None] = field(default_factory=lambda: dict(OPT_OUT_KEYWORDS))
    opt_in: Mapping[str, str | None] = field(default_factory=lambda: dict(OPT_IN_KEYWORDS))

    @classmethod
    def configured(cls, opt_out: Iterable[str] | None, opt_in: Iterable[str] | None) -> Keywords:
        """The defaults, with either list replaced by the business's own words (confirmed in the contact's language)."""
        default = cls()
        return cls(
            opt_out=default.opt_out if opt_out is None else {normalise(w): None for w in opt_out if normalise(w)},
            opt_in=default.opt_in if opt_in is None else {normalise(w): None for w in opt_in if normalise(w)},
        )

    def match(self, message: MessageBase) -> Intent | None:
        """The consent change a whole message asks for; only a typed text or a template button counts."""
        if message.type == "text":
            said, source = message.text or "", "keyword"
        elif message.type == "button":  # a template's quick reply: its payload, else the button's text
            said, source = message.reply_id or message.text or "", "button"
        else:
            return None
        word = normalise(said)
        if word in self.opt_out:
            return Intent(OPT_OUT, source, self.opt_out[word])
        if word in self.opt_in:
            return Intent(OPT_IN, source, self.opt_in[word])
        return None


async def record_consent(
    guard: ConsentGuard, conn: AsyncConnection, changes: Sequence[ConsentChange], now: datetime
) -> consent.Recorded:
    """Append to the ledger in `conn`, first waiting out marketing in flight to those opting out.

    Every opt-out a person asks for goes through here (keyword, button, API, import, dashboard), so that
    no marketing message reaches them once it is stored (`storage.consent_guard`).
    """
    await guard.stopping([c.contact_id for c in changes if c.action == OPT_OUT])
    return await consent.record(conn, changes, now)


@dataclass
class ConsentDesk:
    """The dispatcher's handler in front of the flows: consent keywords first, everything else to `inner`."""

    inner: TurnHandler
    library: Templates
    guard: ConsentGuard
    keywords: Keywords = field(default_factory=Keywords)

    async def handle(
        self,
        *,
        contact: ContactBase,
        message: MessageBase,
        session: SessionBase | None,
        now: datetime,
        conn: AsyncConnection,
    ) -> TurnResult:
        intent = self.keywords.match(message)
        if intent is None or contact.id is None:
            return await self.inner.handle(contact=contact, message=message, session=session, now=now, conn=conn)
        change = ConsentChange(
            contact_id=contact.id,
            action=intent.action,
            source=intent.source,
            evidence={
                "wamid": message.wamid,
                "type": message.type,
                "said": (message.reply_id or message.text or "")[:200],
            },
            at=message.created_at or now,
            dedupe_key=f"message:{message.wamid}",
        )
        recorded = await record_consent(self.guard, conn, [change], now)
        log.info(
            "consent.recorded", contact_id=contact.id, action=intent.action, source=intent.source,
            cancelled=recorded.cancelled,
        )  # fmt: skip
        template = self.library.get(CONFIRMATIONS[intent.action], contact.language or intent.language)
        return TurnResult(outgoing=[to_cloud_api(template, contact.wa_id or contact.user_id or "", {})])

    async def time_out(
        self, *, contact: ContactBase, session: SessionBase | None, now: datetime, conn: AsyncConnection
    ) -> TurnResult:
        """Keywords wait for nothing: a timeout is the inner handler's."""
        return await self.inner.time_out(contact=contact, session=session, now=now, conn=conn)
