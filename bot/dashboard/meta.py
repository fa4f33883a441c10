"""The dashboard's Meta page: templates' status and category as Meta says, the number's quality and tier, the history.

What Meta changed that the business must know stands first: a template moved to another category (now
priced and sent as that category) and a template Meta does not let the service send, each with Meta's
reason. The rules these follow are `storage.lifecycle`'s and `bot.outbound.send_policy`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot import keys
from bot.dashboard.render import render
from bot.message_templates.library import TEMPLATES
from storage import lifecycle
from storage.models import TemplateStatusBase

routes = web.RouteTableDef()
HISTORY = 100  # reports shown, newest first


@dataclass(frozen=True)
class Row:
    """One template and language: our file's category beside Meta's word on it."""

    name: str
    language: str
    ours: str | None  # the file's category; None when the file is gone
    meta: TemplateStatusBase | None
    refusal: str | None

    @property
    def moved(self) -> bool:
        """Meta's category differs from the file's: sends are priced and checked as Meta's."""
        return bool(self.meta and self.meta.category and self.ours and self.meta.category != self.ours)


@routes.get("/meta")
async def meta_page(request: web.Request) -> web.Response:
    """Meta's word: notices first, then the number, every template's status and category, and the history."""
    library = request.config_dict[TEMPLATES]
    async with request.config_dict[keys.REPOSITORY].reading() as conn:
        known = await lifecycle.meta_word(conn)
        numbers = await lifecycle.numbers(conn)
        history = await lifecycle.history(conn, limit=HISTORY)
    ours = {(t.name, t.language): t.category for t in library if t.meta_bound}
    keys_ = sorted(set(ours) | set(known))
    rows = [Row(n, lang, ours.get((n, lang)), known.get((n, lang)), lifecycle.refusal(known.get((n, lang))))
            for n, lang in keys_]  # fmt: skip
    return render(request, "meta.html", title="Meta", rows=rows, numbers=numbers, history=history)
