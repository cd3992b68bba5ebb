"""A deal's latest message ids: a window with a constant-time ``in``, shared by successive states."""

from __future__ import annotations

from collections.abc import Iterable

SEEN_WINDOW = 256
"""How many of a deal's latest message ids its state keeps to recognise a message delivered
again. Replays after a crash are recognised by the worker's stored input offsets; this window
catches an integration sending a message twice, as long as the copy arrives within the deal's
next ``SEEN_WINDOW`` messages. Bounded so a long-lived deal's state does not grow without end."""
SEEN_LOG_SPARE = 64
"""Ids a shared log of message ids takes beyond ``SEEN_WINDOW`` before a new log is started."""


class _IdLog:
    """Message ids in arrival order, shared by successive states of one deal (only ever appended)."""

    __slots__ = ("ids", "positions")

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.positions = {event_id: at for at, event_id in enumerate(ids)}
        """The latest position of each id in ``ids``."""


class SeenIds:
    """A deal's latest ``SEEN_WINDOW`` message ids (oldest first), with a constant-time ``in``.

    A value: it never changes. Successive windows of a deal share one :class:`_IdLog`, each
    ending at its own ``end``; adding to the newest window of a log appends to the log, which
    changes no window, and adding to any other (or to a full log) starts a new log.
    """

    __slots__ = ("_log", "_end")

    def __init__(self, log: _IdLog, end: int) -> None:
        self._log = log
        self._end = end

    @classmethod
    def of(cls, ids: Iterable[str]) -> SeenIds:
        kept = list(ids)[-SEEN_WINDOW:]
        return cls(_IdLog(kept), len(kept))

    def ids(self) -> list[str]:
        return self._log.ids[max(0, self._end - SEEN_WINDOW):self._end]

    def _is_newest(self) -> bool:
        return len(self._log.ids) == self._end

    def __contains__(self, event_id: object) -> bool:
        log, end = self._log, self._end
        if len(log.ids) != end:  # not the newest window of its log
            return event_id in self.ids()
        position = log.positions.get(event_id)  # type: ignore[call-overload]
        return position is not None and position >= end - SEEN_WINDOW

    def added(self, event_id: str) -> SeenIds:
        """This window with ``event_id`` added last (the oldest id drops out of a full window)."""
        log, end = self._log, self._end
        if len(log.ids) == end and end < SEEN_WINDOW + SEEN_LOG_SPARE:  # the newest window, with room
            log.ids.append(event_id)
            log.positions[event_id] = end
            return SeenIds(log, end + 1)
        return SeenIds.of([*self.ids(), event_id])

    def __len__(self) -> int:
        return min(self._end, SEEN_WINDOW)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SeenIds):
            return NotImplemented
        return self.ids() == other.ids()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SeenIds({self.ids()!r})"
