"""Typed words against a menu: synonyms, close misspellings, near ties, digits, and the global intents."""

from __future__ import annotations

import pytest

from bot.engine.flow import Option
from bot.engine.match import collisions, exact, guess, intent

MENU = (
    Option("orders", "My orders", synonyms=("order", "pedidos", "bestelling")),
    Option("appointments", "Appointments", synonyms=("booking", "agendamento", "cita")),
    Option("balance", "Account balance", synonyms=("saldo", "crédito")),
)


@pytest.mark.parametrize(
    ("typed", "wanted"),
    [("MY ORDERS!", "orders"), ("Pedidos", "orders"), ("credito", "balance"), ("  cita. ", "appointments")],
)
def test_exact_folds_case_accents_and_punctuation(typed: str, wanted: str) -> None:
    found = exact(MENU, typed)
    assert found is not None
    assert found.id == wanted


@pytest.mark.parametrize(
    ("typed", "wanted", "sure"),
    [("bookng", "appointments", True), ("apointments", "appointments", True), ("balanse", "balance", False)],
)
def test_guess_is_sure_or_asks(typed: str, wanted: str, sure: bool) -> None:
    found = guess(MENU, typed)
    assert found is not None
    assert (found.option.id, found.sure) == (wanted, sure)


@pytest.mark.parametrize("typed", ["what is the weather", "hi", "10482", "order 10483", ""])
def test_guess_finds_nothing_far_or_numeric(typed: str) -> None:
    assert guess(MENU, typed) is None


def test_a_near_tie_is_never_sure() -> None:
    menu = (Option("a", "Blue shirt"), Option("b", "Blue skirt"))
    found = guess(menu, "blue sxirt")
    assert found is not None
    assert not found.sure


def test_digits_never_match_loosely() -> None:
    slots = (Option("10482", "Order 10482"), Option("10483", "Order 10483"))
    assert guess(slots, "10484") is None
    assert exact(slots, "10484") is None


@pytest.mark.parametrize(
    ("typed", "wanted"),
    [
        ("my orders", "order"), ("Meus pedidos", "order"), ("commande", "order"), ("Bestellung", "order"),
        ("saldo", "balance"), ("Kontostand", "balance"), ("solde", "balance"), ("mijn saldo", "balance"),
        ("rendez-vous", "appointment"), ("citas", "appointment"), ("afspraak", "appointment"),
        ("agendamentos", "appointment"), ("my appointmnts", "appointment"), ("hello", None), ("12", None),
    ],
)  # fmt: skip
def test_intents_in_six_languages(typed: str, wanted: str | None) -> None:
    assert intent(typed) == wanted


def test_collisions_name_both_options_and_the_word() -> None:
    menu = (Option("a", "Orders", synonyms=("parcel",)), Option("b", "Returns", synonyms=("Parcel!",)))
    assert [(x.id, y.id, word) for x, y, word in collisions(menu)] == [("a", "b", "parcel")]
    assert collisions(MENU) == []
