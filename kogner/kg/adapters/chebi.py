"""ChEBI names export: ``name TAB CHEBI:id`` per line, no header.

The first line naming an id makes the Chemical; later lines for the same id add synonyms.
"""

from __future__ import annotations

from collections.abc import Iterator

from kogner.errors import InputFormatError
from kogner.kg.ids import curie
from kogner.kg.records import Alias, Entity, Record
from kogner.kg.sources import SourceSpec, numbered_lines


def read(spec: SourceSpec) -> Iterator[Record]:
    seen: set[str] = set()
    for number, line in spec.limited(numbered_lines(spec.path)):
        name, sep, raw_id = line.rpartition("\t")
        if not sep or not raw_id.upper().startswith("CHEBI:"):
            raise InputFormatError(spec.path, f"line {number}", "expected 'name TAB CHEBI:id'")
        chebi_id = curie(raw_id)
        if chebi_id in seen:
            yield Alias(chebi_id, name, "synonym", number)
        else:
            seen.add(chebi_id)
            yield Entity(chebi_id, name, "Chemical", "", number)
