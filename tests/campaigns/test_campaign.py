"""Campaigns' pure part: who is in an audience, tested once per audience and many contacts."""

from __future__ import annotations

import pytest

from bot.campaigns.campaign import audience_test, in_audience
from storage.models import ContactBase

ANA = ContactBase(id=1, wa_id="31612345678", language="nl", tags=["vip", "spring"])
BOB = ContactBase(id=2, wa_id="14155550100", language="en", tags=["spring"])
CAI = ContactBase(id=3, wa_id="5511987654321", language=None, tags=None)
NONE = ContactBase(id=4, wa_id=None, tags=["vip"])


@pytest.mark.parametrize(
    ("audience", "members"),
    [
        ({}, [ANA, BOB, CAI]),
        ({"tags": ["vip", "spring"]}, [ANA]),
        ({"any_tags": ["vip", "spring"]}, [ANA, BOB]),
        ({"languages": ["en", "nl"]}, [ANA, BOB]),
        ({"country_codes": ["1"]}, [BOB]),
        ({"country_codes": ["31", "551"]}, [ANA, CAI]),
        ({"wa_ids": ["5511987654321", "31612345678", "447000000001"]}, [ANA, CAI]),
        ({"any_tags": ["spring"], "country_codes": ["1"]}, [BOB]),
    ],
)
def test_an_audience_holds_the_contacts_every_filter_admits(
    audience: dict[str, list[str]], members: list[ContactBase]
) -> None:
    """Every filter given must hold, and a contact without a number is never in an audience."""
    holds = audience_test(audience)
    contacts = [ANA, BOB, CAI, NONE]
    assert [c for c in contacts if holds(c)] == members
    assert [c for c in contacts if in_audience(audience, c)] == members


def test_a_list_of_ten_thousand_numbers_is_tested_as_a_set() -> None:
    """A `wa_ids` audience of 10,000 numbers admits exactly the contacts whose number is on it."""
    numbers = [f"3161{i:07d}" for i in range(10_000)]
    holds = audience_test({"wa_ids": numbers})
    contacts = [ContactBase(id=i, wa_id=f"3161{i * 3:07d}") for i in range(5_000)]
    assert sum(map(holds, contacts)) == len([i for i in range(5_000) if i * 3 < 10_000])
