"""The deterministic ids are RFC 4122 version-5 UUIDs in the core's namespace."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from processors.core.ids import _NAMESPACE, _uuid5


@given(st.text())
def test_ids_are_the_standard_uuid5(name: str) -> None:
    assert _uuid5(name) == str(uuid.uuid5(_NAMESPACE, name))
