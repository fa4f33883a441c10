"""The shapes of a flow file's values, as JSON Schema: the `$defs` every step kind's keys point at.

`bot.engine.flow_format` joins these with the step kinds into `flows/flow.schema.json`; `bot.engine.flow_file`
reads each shape with the function `VALUE_READERS` pairs with it, which says what is wrong and where. A test
keeps the two lists of shapes the same, so a new shape is written here and read there, once each.
"""

# ruff: noqa: E501  (the descriptions are what editors show on hover; each is kept on one line)

from __future__ import annotations

from typing import Any

# A caption under a file `say` sends: inline only, at most 1,024 characters.
CAPTION = {"type": "string", "pattern": "\\S", "maxLength": 1024}
# A file `say` sends: a file of the flows folder or a URL.
SENT_FILES = {
    "image": "A JPEG or PNG photo, up to 5 MB.",
    "document": "A PDF, text or Office file, up to 100 MB.",
    "video": "An MP4 or 3GP video, up to 16 MB.",
    "audio": "An AAC, AMR, MP3, M4A or OGG sound, up to 16 MB; audio has no caption.",
}
# A header's file: by URL or media id.
FILE = {
    "description": "The file: an http(s) URL, or the media id of a file uploaded to Meta; Jinja over the slots.",
    "type": "string",
    "minLength": 1,
}
SHAPES: dict[str, dict[str, Any]] = {
    "id": {
        "description": "A name: lowercase letters, digits and underscores, not starting with a digit.",
        "type": "string",
        "pattern": "^[a-z_][a-z0-9_]*$",
    },
    "target": {"description": "The id of a step in this flow.", "type": "string", "pattern": "^[a-z_][a-z0-9_]*$"},
    "slot": {
        "description": "A slot's name: where a value is kept for later steps, texts and conditions.",
        "type": "string",
        "pattern": "^[a-z_][a-z0-9_]*$",
        "not": {"enum": ["contact", "and", "or", "not", "in", "is", "none", "true", "false"]},
    },
    "duration": {
        "description": "A duration: a whole number and a unit, as in 30s, 10m, 2h or 1d.",
        "type": "string",
        "pattern": "^[1-9][0-9]*[smhd]$",
    },
    "jinja": {
        "description": 'Jinja text over the slots and `contact`, as in "{{ order.number }}".',
        "type": ["string", "number"],
    },
    "text": {
        "description": "What the bot says: inline Jinja text, one text per language, or a template from templates/ with its values.",
        "oneOf": [
            {
                "description": "Inline Jinja text over the slots and `contact` (contact.name, contact.wa_id, contact.language); at most 1,024 characters.",
                "type": "string",
                "pattern": "\\S",
                "maxLength": 1024,
            },
            {
                "description": "One inline Jinja text per language code (en, pt_BR, es…); the contact's language picks one, else one of its base language, else en, else the first.",
                "type": "object",
                "propertyNames": {"pattern": "^[a-z]{2,3}(_[A-Z]{2})?$"},
                "additionalProperties": {"type": "string", "pattern": "\\S", "maxLength": 1024},
                "minProperties": 1,
                "not": {"required": ["template"]},
            },
            {
                "description": "A message template from templates/, in the contact's language (with its fallback).",
                "type": "object",
                "properties": {
                    "template": {
                        "description": "The template's name, as in its file name (order_status for order_status.en.md.j2).",
                        "type": "string",
                        "minLength": 1,
                    },
                    "values": {
                        "description": "A value for each of the template's variables, as Jinja over the slots.",
                        "type": "object",
                        "additionalProperties": {"$ref": "#/$defs/jinja"},
                    },
                },
                "required": ["template"],
                "additionalProperties": False,
            },
        ],
    },
    "validator": {
        "description": "How the answer is checked; the default is text (any non-empty text).",
        "oneOf": [
            {
                "description": "text: any non-empty text. time: 14:30, 2pm. datetime: a date and a time. phone: an international number, kept as E.164. email: an address. number: any number. date: any date. image: a photo the customer sends. document: a file sent as a document. location: a shared location. The slot keeps a mapping (see flows/README.md).",
                "enum": [
                    "text",
                    "time",
                    "datetime",
                    "phone",
                    "email",
                    "number",
                    "date",
                    "image",
                    "document",
                    "location",
                ],
            },
            {
                "type": "object",
                "properties": {
                    "pattern": {
                        "description": "A regular expression the whole answer must match.",
                        "type": "string",
                        "format": "regex",
                    }
                },
                "required": ["pattern"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "number": {
                        "description": "A number, optionally within bounds.",
                        "type": ["object", "null"],
                        "properties": {
                            "min": {"description": "The smallest number accepted.", "type": "number"},
                            "max": {"description": "The largest number accepted.", "type": "number"},
                        },
                        "additionalProperties": False,
                    }
                },
                "required": ["number"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "date": {
                        "description": "A date (today, tomorrow, 17/04, 2026-04-17, Friday …) in the business's time zone, optionally within days from today.",
                        "type": ["object", "null"],
                        "properties": {
                            "min_days": {
                                "description": "The earliest date accepted, in days from today (0 is today).",
                                "type": "integer",
                            },
                            "max_days": {
                                "description": "The latest date accepted, in days from today.",
                                "type": "integer",
                            },
                        },
                        "additionalProperties": False,
                    }
                },
                "required": ["date"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "choice": {
                        "description": "One of these answers (case-insensitive).",
                        "type": "array",
                        "items": {"type": "string", "minLength": 1},
                        "minItems": 1,
                    }
                },
                "required": ["choice"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "custom": {
                        "description": "A Python validator registered under this name.",
                        "type": "string",
                        "pattern": "^[a-z_][a-z0-9_]*(\\.[a-z_][a-z0-9_]*)*$",
                    }
                },
                "required": ["custom"],
                "additionalProperties": False,
            },
        ],
    },
    "option": {
        "description": "One choice: `id` routes the answer, `title` is what the customer reads (and may type).",
        "type": "object",
        "properties": {
            "id": {
                "description": "The option's id, kept in `slot` when chosen; at most 200 characters.",
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
            },
            "title": {
                "description": "What the customer reads: at most 20 characters on a reply button (3 options or fewer), 24 in a list.",
                "type": "string",
                "minLength": 1,
                "maxLength": 24,
            },
            "description": {
                "description": "A second line under the title in a list (not shown on reply buttons); at most 72 characters.",
                "type": "string",
                "maxLength": 72,
            },
            "next": {"$ref": "#/$defs/target", "description": "Where this option goes; without it, the step's `next`."},
            "synonyms": {
                "description": "Other words a customer may type for this option (case, accents and punctuation ignored; close misspellings match too): a list, or one list per language code. No two options of one menu may share a word.",
                "oneOf": [
                    {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                    {
                        "type": "object",
                        "propertyNames": {"pattern": "^[a-z]{2,3}(_[A-Z]{2})?$"},
                        "additionalProperties": {
                            "type": "array",
                            "items": {"type": "string", "minLength": 1},
                            "minItems": 1,
                        },
                        "minProperties": 1,
                    },
                ],
            },
        },
        "required": ["id", "title"],
        "additionalProperties": False,
    },
    "case": {
        "description": "A condition and the step it leads to; the first case that holds wins.",
        "type": "object",
        "properties": {
            "if": {
                "description": "A condition over the slots and `contact`: comparisons (== != < <= > >= in, not in, is none, is not none), and, or, not, + - * /, len(), lower(), upper().",
                "type": "string",
                "pattern": "\\S",
            },
            "goto": {"$ref": "#/$defs/target", "description": "The step to go to when the condition holds."},
        },
        "required": ["if", "goto"],
        "additionalProperties": False,
    },
    "header": {
        "description": "The message's header: a text (at most 60 characters), or a file above the text.",
        "oneOf": [
            {"type": "string", "minLength": 1, "maxLength": 60},
            *(
                {
                    "type": "object",
                    "properties": {media: FILE},
                    "required": [media],
                    "additionalProperties": False,
                }
                for media in ("image", "video")
            ),
            {
                "type": "object",
                "properties": {
                    "document": FILE,
                    "filename": {"description": "The document's name on the phone.", "type": "string", "minLength": 1},
                },
                "required": ["document"],
                "additionalProperties": False,
            },
        ],
    },
    "media": {
        "description": "A file to send: exactly one of image, document, video or audio, naming a file in the flows folder (uploaded to WhatsApp once) or an http(s) URL (Jinja) WhatsApp fetches.",
        "type": "object",
        "properties": {
            **{kind: {"description": words, "type": "string", "minLength": 1} for kind, words in SENT_FILES.items()},
            "caption": {
                "description": "A caption under an image, video or document: Jinja text, or one text per language; at most 1,024 characters.",
                "oneOf": [
                    {
                        "description": "Inline Jinja text over the slots and `contact` (contact.name, contact.wa_id, contact.language); at most 1,024 characters.",
                        **CAPTION,
                    },
                    {
                        "description": "One inline Jinja text per language code (en, pt_BR, es…); the contact's language picks one, else one of its base language, else en, else the first.",
                        "type": "object",
                        "propertyNames": {"pattern": "^[a-z]{2,3}(_[A-Z]{2})?$"},
                        "additionalProperties": CAPTION,
                        "minProperties": 1,
                        "not": {"required": ["template"]},
                    },
                ],
            },
            "filename": {
                "description": "The name a document shows (default: the file's own name).",
                "type": "string",
                "pattern": "^[^/]+$",
            },
        },
        "oneOf": [{"required": [kind]} for kind in SENT_FILES],
        "additionalProperties": False,
    },
}
