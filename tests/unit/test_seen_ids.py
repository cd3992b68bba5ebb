"""A deal's window of seen message ids: a value, whatever windows share its log."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.core.seen_ids import SEEN_LOG_SPARE, SEEN_WINDOW, SeenIds


def _filled(ids: list[str]) -> SeenIds:
    window = SeenIds.of([])
    for event_id in ids:
        window = window.added(event_id)
    return window


def test_a_window_keeps_the_latest_ids_oldest_first() -> None:
    ids = [f"m{i}" for i in range(SEEN_WINDOW + SEEN_LOG_SPARE + 10)]
    window = _filled(ids)
    assert window.ids() == ids[-SEEN_WINDOW:] and len(window) == SEEN_WINDOW
    assert "m9" not in window and ids[-SEEN_WINDOW] in window and ids[-1] in window
    assert len(window._log.ids) <= SEEN_WINDOW + SEEN_LOG_SPARE  # what a deal holds in memory stays bounded


def test_adding_to_a_window_changes_neither_it_nor_its_other_successors() -> None:
    base = _filled(["a", "b"])
    left, right = base.added("l1"), base.added("r1")
    left2 = left.added("l2")
    assert base.ids() == ["a", "b"] and "l1" not in base and "r1" not in base
    assert left.ids() == ["a", "b", "l1"] and "l2" not in left and "r1" not in left
    assert right.ids() == ["a", "b", "r1"] and "l1" not in right and "l2" not in right
    assert left2.ids() == ["a", "b", "l1", "l2"] and left2 == SeenIds.of(["a", "b", "l1", "l2"])


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 400)), max_size=SEEN_WINDOW + 2 * SEEN_LOG_SPARE))
def test_any_windows_answer_as_their_lists(steps: list[tuple[int, int]]) -> None:
    """Each window added to one of the latest few (so most share a log, and some logs fill up)."""
    windows, lists = [SeenIds.of([])], [[]]  # type: ignore[var-annotated]
    for back, number in steps:
        at, event_id = max(0, len(windows) - 1 - back), f"m{number}"
        windows.append(windows[at].added(event_id))
        lists.append([*lists[at], event_id][-SEEN_WINDOW:])
    for window, ids in zip(windows, lists, strict=True):
        assert window.ids() == ids and len(window) == len(ids)
        assert all((f"m{number}" in window) == (f"m{number}" in ids) for _, number in steps)
