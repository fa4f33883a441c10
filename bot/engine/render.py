"""Inline flow texts: Jinja in a sandbox, with missing names and None values rendered empty rather than raising."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from bot.errors import ValidationError


def _shown(value: Any) -> Any:
    """What `{{ x }}` prints: a missing value (None) as nothing, never the word "None"."""
    return "" if value is None else value


_ENVIRONMENT = SandboxedEnvironment(
    undefined=ChainableUndefined, autoescape=False, keep_trailing_newline=False, finalize=_shown
)


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Any:
    try:
        return _ENVIRONMENT.from_string(source)
    except TemplateError as exc:
        raise ValidationError(f"text {source[:40]!r}: {exc}") from None


def render_text(source: str, names: dict[str, Any]) -> str:
    """Render `source` with `names`; a customer's own words in `names` are values, never template code."""
    if "{" not in source:
        return source
    try:
        return str(_compiled(source).render(names)).strip()
    except TemplateError as exc:
        raise ValidationError(f"text {source[:40]!r}: {exc}") from None
