"""Generic nodes/edges CSV for any other source.

``path``: nodes CSV with header ``id,name,type`` and optional ``description``, ``synonyms``
and ``xrefs`` (``|``-separated); ids should be CURIEs, ``type`` one of
:data:`kogner.kg.schema.ENTITY_TYPES`. Option ``edges``: CSV with header
``head,relation,tail``. Option ``delimiter`` (default ``,``; ``"\\t"`` for TSV).
"""

from __future__ import annotations

from collections.abc import Iterator

from kogner.errors import InputFormatError
from kogner.kg.adapters.tabular import header_rows
from kogner.kg.ids import curie
from kogner.kg.records import Alias, Edge, Entity, Record, Xref
from kogner.kg.schema import ENTITY_TYPES
from kogner.kg.sources import SourceSpec, split_list


def read(spec: SourceSpec) -> Iterator[Record]:
    delimiter = spec.options.get("delimiter", ",")
    for number, row in spec.limited(header_rows(spec.path, delimiter, ("id", "name", "type"), quoting=True)):
        if row["type"] not in ENTITY_TYPES:
            raise InputFormatError(spec.path, f"line {number}", f"type {row['type']!r} not in {ENTITY_TYPES}")
        node = curie(row["id"])
        yield Entity(node, row["name"], row["type"], row.get("description", ""), number)
        for synonym in split_list(row.get("synonyms", "")):
            yield Alias(node, synonym, "synonym", number)
        for xref in split_list(row.get("xrefs", "")):
            yield Xref(node, curie(xref), number)
    if "edges" in spec.options:
        edges = header_rows(spec.file("edges"), delimiter, ("head", "relation", "tail"), quoting=True)
        for number, row in spec.limited(edges):
            yield Edge(curie(row["head"]), row["relation"], curie(row["tail"]), number)
