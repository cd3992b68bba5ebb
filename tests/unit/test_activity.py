"""A buyer engagement joins the deal's time-ordered history; engagement beyond it is dropped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.core.activity import HISTORY, after_engagement
from processors.core.state import BuyerEngagement, DealState
from tests.builders import at

days = st.floats(0, 200, allow_nan=False).map(lambda day: round(day, 1))


@given(st.lists(days, max_size=30), days)
def test_the_history_stays_ordered_and_within_its_horizon(history: list[float], day: float) -> None:
    engagements = sorted((BuyerEngagement(at=at(d), contacts=[f"c{i}"]) for i, d in enumerate(history)),
                         key=lambda e: e.at)
    state = DealState(deal_id="d1", buyer_engagements=engagements)
    moment = at(day)
    update = after_engagement(state, {"type": "email.replied", "contact_id": "cx"}, moment, {})
    added = BuyerEngagement(at=moment, contacts=["cx"])
    expected = sorted([*(e for e in engagements if e.at >= moment - HISTORY), added], key=lambda e: e.at)
    assert update["buyer_engagements"] == expected
