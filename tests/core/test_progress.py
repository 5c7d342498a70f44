"""The check-in's "n/total": known from the first question, never growing."""

from __future__ import annotations

from bot.core.instrument import get_instrument


def test_the_total_is_fixed_and_a_follow_up_shares_its_questions_number() -> None:
    """Core items, tension and note count; the follow-up after tension does not add one."""
    instrument = get_instrument()
    included = [item.id for item in instrument.items_for(1)]
    seen = {
        item_id: instrument.progress(included, instrument.item(item_id)) for item_id in included
    }
    assert seen["bond"] == (1, 6) and seen["tension"] == (5, 6)
    assert seen["talked_through"] == seen["tension"]
    assert seen["comment"] == (6, 6)


def test_a_check_in_with_the_support_item_counts_it_from_the_start() -> None:
    """Every fourth check-in has one more question, and says so on its first screen."""
    instrument = get_instrument()
    included = [item.id for item in instrument.items_for(4)]
    assert instrument.progress(included, instrument.item("bond")) == (1, 7)
    assert instrument.progress(included, instrument.item("comment")) == (7, 7)
