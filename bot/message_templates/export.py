"""`bot templates export`: the templates as Meta's template-creation JSON, ready to submit.

https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/
"""

from __future__ import annotations

from typing import Any

from bot.errors import ValidationError
from bot.message_templates.library import TemplateLibrary, component_variables, header_media, render
from bot.message_templates.rules import meta_text
from bot.message_templates.template_file import COPY_CODE_TEXT, Button, MessageTemplate, environment


def _examples(template: MessageTemplate, source: str) -> list[dict[str, str]]:
    return [{"param_name": n, "example": str(template.examples[n])} for n in component_variables(source)]


def _meta(source: str) -> str:
    return meta_text(environment().parse(source))


def export(template: MessageTemplate) -> dict[str, Any]:
    """Meta's template-creation JSON for one template, ready to submit to the Business Management API.

    https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/
    """
    if template.category == "service":
        raise ValidationError(f"{template.path}: service templates are in-window replies and are not submitted")
    if template.category == "authentication":
        return _export_authentication(template)
    components: list[dict[str, Any]] = []
    if template.header_media is not None:
        components.append(_export_media_header(template))
    elif template.header:
        header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": _meta(template.header)}
        if examples := _examples(template, template.header):
            header["example"] = {"header_text_named_params": examples}
        components.append(header)
    body: dict[str, Any] = {"type": "BODY", "text": _meta(template.body)}
    if examples := _examples(template, template.body):
        body["example"] = {"body_text_named_params": examples}
    components.append(body)
    if template.footer:
        components.append({"type": "FOOTER", "text": template.footer})
    if template.buttons:
        components.append({"type": "BUTTONS", "buttons": [_export_button(template, b) for b in template.buttons]})
    return {
        "name": template.name,
        "language": template.language,
        "category": template.category.upper(),
        "parameter_format": "NAMED",
        "components": components,
    }


def _export_media_header(template: MessageTemplate) -> dict[str, Any]:
    """A file header's format and its example file; a place has no example: it is given at send time only.

    Meta wants the example as an upload handle (its Resumable Upload API); the export carries the example's
    URL or media id there, for the submitting step to upload.
    https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/components/
    """
    assert template.header_media is not None
    header: dict[str, Any] = {"type": "HEADER", "format": template.header_media.format.upper()}
    example = header_media(template, template.examples)
    if example is not None and example.format != "location":
        header["example"] = {"header_handle": [example.link or example.media_id]}
    return header


def _export_button(template: MessageTemplate, button: Button) -> dict[str, Any]:
    """URL buttons keep Meta's positional ``{{1}}`` suffix: named parameters cover header and body only."""
    if button.type == "quick_reply":
        return {"type": "QUICK_REPLY", "text": button.text}
    url = button.url or ""
    head, brace, _ = url.partition("{{")
    if not brace:
        return {"type": "URL", "text": button.text, "url": url}
    example = render(template, template.examples).buttons[template.buttons.index(button)].url
    return {"type": "URL", "text": button.text, "url": head + "{{1}}", "example": [example]}


def _export_authentication(template: MessageTemplate) -> dict[str, Any]:
    """Meta fixes authentication bodies; only the security line, expiry and button are chosen.

    https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/authentication-templates/
    """
    body: dict[str, Any] = {"type": "BODY", "add_security_recommendation": template.security_recommendation}
    components: list[dict[str, Any]] = [body]
    if template.code_expiration_minutes:
        components.append({"type": "FOOTER", "code_expiration_minutes": template.code_expiration_minutes})
    text = template.buttons[0].text if template.buttons else COPY_CODE_TEXT
    components.append({"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": text}]})
    exported: dict[str, Any] = {
        "name": template.name,
        "language": template.language,
        "category": "AUTHENTICATION",
        "components": components,
    }
    if template.code_expiration_minutes:
        # An undelivered code is useless once expired; Meta drops the message after this time-to-live.
        exported["message_send_ttl_seconds"] = template.code_expiration_minutes * 60
    return exported


def export_all(library: TemplateLibrary) -> list[dict[str, Any]]:
    """Creation JSON for every Meta-bound template in the library; service templates are skipped."""
    return [export(t) for t in library if t.meta_bound]
