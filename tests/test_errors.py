"""The error tree: every class of `bot.errors` is drawn in its docstring, and answers the HTTP status drawn there."""

from __future__ import annotations

import re

import pytest

from bot import errors
from bot.errors import BotError, http_status

TREE = errors.__doc__ or ""
ERROR_CLASSES = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, BotError)]


def drawn_status(cls: type[BotError]) -> int:
    """The status the tree draws for `cls`: its own, else its nearest drawn ancestor's, else 500."""
    for ancestor in cls.__mro__:
        found = re.search(rf"[─ ]{ancestor.__name__} .*\(HTTP (\d+)\)", TREE)
        if found:
            return int(found.group(1))
    return 500


def test_every_error_class_is_drawn_in_the_tree() -> None:
    """Each error class of `bot.errors` has a line of its own in the module docstring's tree."""
    missing = [c.__name__ for c in ERROR_CLASSES if not re.search(rf"[─ ]{c.__name__} ", TREE)]
    assert missing == []


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_http_status_is_the_one_the_tree_draws(cls: type[BotError]) -> None:
    """An error is answered with the status drawn beside it, or beside its nearest ancestor that has one, else 500."""
    assert http_status(cls.__new__(cls)) == drawn_status(cls)


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.ValidationError, 400),
        (errors.LimitExceeded, 400),
        (errors.IncompleteBody, 400),
        (errors.BodyTooLarge, 413),
        (errors.BodyTimeout, 408),
        (errors.NotFound, 404),
        (errors.Conflict, 409),
        (errors.OutsideServiceWindow, 409),
        (errors.OTPRefused, 429),
        (errors.StorageUnavailable, 503),
        (errors.ConfigError, 500),
        (errors.TransientError, 500),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
def test_http_status_of_each_branch(cls: type[BotError], status: int) -> None:
    """The statuses callers rely on: 400 bad input, 404 unknown, 409 clash or policy, 429 OTP pacing, 503 storage."""
    assert http_status(cls.__new__(cls)) == status
