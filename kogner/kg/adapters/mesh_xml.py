"""NLM's official MeSH descriptor XML (``desc20XX.xml``), streamed with ``iterparse``.

Per ``DescriptorRecord``: DescriptorUI, DescriptorName, the preferred concept's ScopeNote
(description), every Term String of every concept (aliases; the record's preferred term is
kind ``preferred``), TreeNumbers (type and ``parent`` edges, as in
:mod:`kogner.kg.adapters.mesh`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from kogner.errors import InputFormatError
from kogner.kg.adapters.mesh import mesh_type, parent_edges
from kogner.kg.records import Alias, Entity, Record
from kogner.kg.sources import SourceSpec, open_text


def read(spec: SourceSpec) -> Iterator[Record]:
    trees: dict[str, list[str]] = {}
    for index, record in spec.limited(enumerate(_descriptors(spec), start=1)):
        entity_id = f"MESH:{record.findtext('DescriptorUI', '').strip()}"
        name = record.findtext("DescriptorName/String", "").strip()
        if entity_id == "MESH:":
            raise InputFormatError(spec.path, f"DescriptorRecord {index}", "no DescriptorUI")
        numbers = [node.text.strip() for node in record.iterfind("TreeNumberList/TreeNumber") if node.text]
        trees[entity_id] = numbers
        scope = ""
        for concept in record.iterfind("ConceptList/Concept"):
            if concept.get("PreferredConceptYN") == "Y":
                scope = " ".join((concept.findtext("ScopeNote") or "").split())
        yield Entity(entity_id, name, mesh_type(numbers), scope, index)
        for term in record.iterfind("ConceptList/Concept/TermList/Term"):
            text = term.findtext("String", "").strip()
            if text and text != name:
                yield Alias(entity_id, text, "synonym", index)
        record.clear()
    yield from parent_edges(trees)


def _descriptors(spec: SourceSpec) -> Iterator[ET.Element]:
    with open_text(spec.path) as handle:
        try:
            for _event, element in ET.iterparse(handle, events=("end",)):
                if element.tag == "DescriptorRecord":
                    yield element
        except ET.ParseError as error:
            raise InputFormatError(spec.path, f"line {error.position[0]}", f"malformed XML: {error}") from None
