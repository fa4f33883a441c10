"""The campaign form read into an API body: types turned where they can be, everything else passed on as typed."""

from __future__ import annotations

from bot.dashboard.campaign_form import campaign_body

VARIABLES = ("customer_name", "discount")


def test_values_are_literal_or_a_contact_field_with_the_text_as_default() -> None:
    """A chosen field makes {field, default}; an empty text is left out, so the API names it as missing."""
    fields = {"name": "N", "template": "t", "value_customer_name": "there", "field_customer_name": "name"}
    assert campaign_body(fields, VARIABLES, "UTC")["parameters"] == {
        "customer_name": {"field": "name", "default": "there"}
    }
    fields |= {"value_discount": " 20% ", "field_customer_name": "", "value_customer_name": ""}
    assert campaign_body(fields, VARIABLES, "UTC")["parameters"] == {"discount": "20%"}


def test_numbers_lists_and_a_local_time_become_the_apis_types() -> None:
    """Whole numbers, rates, comma lists and a datetime-local read in the campaign's zone; empty fields left out."""
    fields = {
        "name": "N", "template": "t", "tags": "vip, spring ,", "any_tags": "", "frequency_cap": "3", "rate": "0.5",
        "test_numbers": "+31612345001; 31612345002", "schedule": "at", "send_at": "2026-12-01T10:00",
        "time_zone": "Europe/Amsterdam", "flow": "",
    }  # fmt: skip
    body = campaign_body(fields, (), "UTC")
    assert body == {
        "name": "N", "template": "t", "parameters": {}, "audience": {"tags": ["vip", "spring"]},
        "frequency_cap": 3, "rate": 0.5, "test_numbers": ["31612345001", "31612345002"],
        "time_zone": "Europe/Amsterdam", "send_at": "2026-12-01T10:00:00+01:00",
    }  # fmt: skip


def test_what_cannot_be_turned_is_passed_on_as_typed() -> None:
    """A cap or time that is not one goes to the API's check unchanged; a cron schedule is given as typed."""
    fields = {"frequency_cap": "lots", "rate": "fast", "schedule": "at", "send_at": "soon", "time_zone": "Nowhere/X"}
    body = campaign_body(fields, (), "UTC")
    assert (body["frequency_cap"], body["rate"], body["send_at"]) == ("lots", "fast", "soon")
    assert campaign_body({"schedule": "cron", "cron": " 0 10 * * MON "}, (), "UTC")["cron"] == "0 10 * * MON"
    assert "send_at" not in campaign_body({"schedule": "now", "send_at": "2026-12-01T10:00"}, (), "UTC")
