"""Meta's template management API and the number's own record: submit, edit and list templates, read quality and tier.

`POST /{version}/{waba-id}/message_templates` submits a template (Meta answers its id, status and
category), `POST /{version}/{template-id}` edits one, `GET /{version}/{waba-id}/message_templates` lists
them with their status and category, page by page, and `GET /{version}/{phone-number-id}` reads the
number's quality rating and messaging limit. The same client talks to graph.facebook.com and to the
sandbox (`WHATSAPP_API_URL`). A refusal is the Cloud API's typed error, with the token never in it.

https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.errors import TransientError
from bot.whatsapp.client import error_from_response, redact
from storage import json_codec

PAGE = 100  # templates per page asked of Meta
MAX_PAGES = 100  # 10,000 templates: more than Meta lets one account hold
TEMPLATE_FIELDS = "id,name,language,status,category,previous_category,rejected_reason"
NUMBER_FIELDS = "id,display_phone_number,quality_rating,messaging_limit_tier"


@dataclass(frozen=True)
class Submitted:
    """Meta's answer to a submission or an edit: the template's id, and its status and category if it said."""

    id: str | None
    status: str | None
    category: str | None


class TemplateAPI:
    """The business account's templates and the number's record, over one `aiohttp.ClientSession`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        version: str,
        account_id: str,
        phone_number_id: str,
        access_token: str,
        timeout: float = 30.0,
    ) -> None:
        self._session = session
        self._base = f"{base_url.rstrip('/')}/{version}"
        self._account_id = account_id
        self._phone_number_id = phone_number_id
        self._token = access_token
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def __repr__(self) -> str:
        return f"TemplateAPI(base={self._base!r}, account={self._account_id!r})"

    async def submit(self, document: dict[str, Any]) -> Submitted:
        """Submit a new template for review."""
        return _submitted(await self._call("POST", f"{self._account_id}/message_templates", body=document))

    async def edit(self, template_id: str, document: dict[str, Any]) -> Submitted:
        """Submit a changed template (its components and category) for review again."""
        body = {k: v for k, v in document.items() if k in ("components", "category")}
        answer = _submitted(await self._call("POST", template_id, body=body))
        return Submitted(answer.id or template_id, answer.status, answer.category)

    async def templates(self) -> list[dict[str, Any]]:
        """Every template of the account as Meta lists it: id, name, language, status, category, reasons."""
        found: list[dict[str, Any]] = []
        params = {"fields": TEMPLATE_FIELDS, "limit": str(PAGE)}
        for _ in range(MAX_PAGES):
            answer = await self._call("GET", f"{self._account_id}/message_templates", params=params)
            data = answer.get("data")
            found += [t for t in data if isinstance(t, dict)] if isinstance(data, list) else []
            paging = answer.get("paging")
            cursors = paging.get("cursors") if isinstance(paging, dict) else None
            after = cursors.get("after") if isinstance(cursors, dict) else None
            if not (isinstance(paging, dict) and paging.get("next") and isinstance(after, str) and after):
                break
            params = params | {"after": after}
        return found

    async def number(self) -> dict[str, Any]:
        """The number's record: its display number, quality rating and messaging limit tier."""
        return await self._call("GET", self._phone_number_id, params={"fields": NUMBER_FIELDS})

    async def _call(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        data = json_codec.dumps(body) if body is not None else None
        try:
            async with self._session.request(
                method, f"{self._base}/{path}", data=data, params=params, headers=headers, timeout=self._timeout
            ) as response:
                status, raw = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"the Graph API could not be reached: {type(exc).__name__}") from None
        try:
            answer = json_codec.loads(raw) if raw else {}
        except ValueError:
            answer = None
        if not 200 <= status < 300:
            raise error_from_response(status, redact(answer, self._token))
        if not isinstance(answer, dict):
            raise TransientError(f"the Graph API answered HTTP {status} without a JSON object", http_status=status)
        return answer


def _submitted(answer: dict[str, Any]) -> Submitted:
    def text(key: str) -> str | None:
        value = answer.get(key)
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None

    return Submitted(text("id"), text("status"), text("category"))
