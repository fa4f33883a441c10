"""The engine's own words in six languages: messages in the contact's language, commands understood in any."""

from __future__ import annotations

from bot.inbound.consent_keywords import OPT_OUT_KEYWORDS
from bot.language.words import LANGUAGES, MESSAGES, command, message, pick_language


def test_every_message_is_written_in_each_language_the_opt_out_words_cover() -> None:
    """The six languages are those of the consent keywords, and every message has each of them."""
    assert set(LANGUAGES) == set(OPT_OUT_KEYWORDS.values())
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), key


def test_a_message_falls_back_to_its_base_language_then_english() -> None:
    """pt_BR as is; pt and pt_PT find pt_BR; a language never written gets English."""
    assert message("help", "pt_BR").startswith("Posso ajudar")
    assert message("help", "pt").startswith("Posso ajudar")
    assert message("not_text", "es_MX") == "Aquí solo puedo leer mensajes de texto."
    assert message("not_text", "ja") == "I can only read text messages here."
    assert pick_language({"pt_BR": 1, "es": 2}, "de") == "pt_BR"  # no English: the first written
    assert pick_language({}, "de") is None


def test_commands_are_understood_in_every_language() -> None:
    """Typed words, any case, accents or punctuation, are the same four commands."""
    assert [command(w) for w in ("Ajuda", "HILFE!", "aide", "Menú", "cancelar", "Atendente", "medewerker")] == [
        "help", "help", "help", "menu", "cancel", "agent", "agent",
    ]  # fmt: skip
    assert command("my orders") is None
