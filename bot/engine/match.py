"""Typed words against a menu: an option's title, id or synonyms, close misspellings, and global intents.

A customer types "bookng" or "saldo" instead of tapping. `guess` compares the folded text (no case,
accents or punctuation, `bot.language.words.fold`) with each option's title, id and synonyms using
RapidFuzz's edit-distance ratio: a score of `SURE` or more is taken at once, one from `UNSURE` is asked
back ("Did you mean …?"), and a near tie between two options is never sure. Texts with digits are only
matched exactly: order numbers and times differ by one character and mean different things. `intent`
reads the few global intents (order, appointment, balance) in the six languages of the engine's words.
Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.engine.flow import Option
from bot.language.words import INTENTS, fold

SURE = 88.0  # at or above: taken as the customer's choice
UNSURE = 72.0  # from here up to SURE: asked back
TIE = 6.0  # a runner-up option this close to the best makes the guess unsure
MIN_LETTERS = 3


@dataclass(frozen=True)
class Guess:
    """The option a typed text most likely means, and whether that is sure enough to act on."""

    option: Option
    score: float
    sure: bool


@functools.lru_cache(maxsize=4096)
def words_of(option: Option) -> tuple[str, ...]:
    """Every folded text an option answers to: its title, its id and its synonyms.

    Kept per option (options are frozen): folding every option's words again for each customer text was a
    tenth of the service's time in `bot bench turns`, for a menu whose words never change.
    """
    return tuple(dict.fromkeys(w for w in (fold(option.title), fold(option.id), *map(fold, option.synonyms)) if w))


def exact(options: Iterable[Option], text: str) -> Option | None:
    """The option whose title, id or synonym the text is, folded."""
    wanted = fold(text)
    if not wanted:
        return None
    return next((option for option in options if wanted in words_of(option)), None)


def guess(options: Iterable[Option], text: str) -> Guess | None:
    """The closest option to a typed text, or None when nothing comes near (or the text has digits)."""
    wanted = fold(text)
    if sum(c.isalpha() for c in wanted) < MIN_LETTERS or any(c.isdigit() for c in wanted):
        return None
    scored = sorted(
        ((max(fuzz.ratio(wanted, word) for word in words_of(option)), index, option) for index, option in
         enumerate(options) if words_of(option)),
        key=lambda item: (-item[0], item[1]),
    )  # fmt: skip
    if not scored or scored[0][0] < UNSURE:
        return None
    best, _, option = scored[0]
    tied = len(scored) > 1 and best - scored[1][0] < TIE
    return Guess(option, best, best >= SURE and not tied)


def intent(text: str) -> str | None:
    """The global intent a typed text names ("order", "appointment", "balance"), in any of the six languages."""
    wanted = fold(text)
    if wanted in INTENTS:
        return INTENTS[wanted]
    if sum(c.isalpha() for c in wanted) < MIN_LETTERS + 2 or any(c.isdigit() for c in wanted):
        return None
    best = max(((fuzz.ratio(wanted, word), name) for word, name in INTENTS.items()), default=(0.0, ""))
    return best[1] if best[0] >= SURE else None


def collisions(options: Iterable[Option]) -> list[tuple[Option, Option, str]]:
    """Pairs of options of one menu that answer to the same folded word (for `bot check`)."""
    seen: dict[str, Option] = {}
    found = []
    for option in options:
        for word in words_of(option):
            other = seen.setdefault(word, option)
            if other is not option:
                found.append((other, option, word))
    return found
