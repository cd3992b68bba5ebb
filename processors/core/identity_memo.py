"""Values derived from immutable objects, remembered by the object's identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

Source = TypeVar("Source")
Derived = TypeVar("Derived")


class IdentityMemo(Generic[Source, Derived]):
    """``derive(source)``, computed once per source object (at most ``size`` remembered).

    For objects never changed in place (a playbook's stage list, a deal state's engagement
    list): the same object means the same value. An entry keeps its source alive, so its
    ``id`` cannot be reused while the entry exists; the memo is emptied when full.
    """

    def __init__(self, derive: Callable[[Source], Derived], size: int) -> None:
        self.derive = derive
        self.size = size
        self.entries: dict[int, tuple[Source, Derived]] = {}

    def __call__(self, source: Source) -> Derived:
        entry = self.entries.get(id(source))
        if entry is None or entry[0] is not source:
            if len(self.entries) >= self.size:
                self.entries.clear()
            entry = self.entries[id(source)] = (source, self.derive(source))
        return entry[1]
