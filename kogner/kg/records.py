"""The records every source adapter streams; ``line`` locates the record in its source file."""

from __future__ import annotations

from typing import NamedTuple


class Entity(NamedTuple):
    entity_id: str
    name: str
    type: str
    description: str = ""
    line: int = 0


class Alias(NamedTuple):
    entity_id: str
    alias: str
    kind: str
    line: int = 0


class Edge(NamedTuple):
    head: str
    relation: str
    tail: str
    line: int = 0


class Xref(NamedTuple):
    """``entity_id`` and ``xref_id`` name the same thing (a candidate for merging)."""

    entity_id: str
    xref_id: str
    line: int = 0


Record = Entity | Alias | Edge | Xref
