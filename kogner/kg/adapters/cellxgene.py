"""Ontologies shipped by ``cellxgene-ontology-guide`` as zstd-compressed JSON.

Each file maps a term id to ``{"label", "description", "synonyms", "deprecated",
"replaced_by", "ancestors": {id: distance}}`` (MONDO, ChEBI, UBERON, CL, ...).
``path`` is the package's data folder (``pkg://cellxgene_ontology_guide/data``) and option
``ontology`` names the ontology (``MONDO``); the version is the package's latest
(``latest_ontology_info.json``) unless option ``version`` pins one. Deprecated terms are
left out (a ``replaced_by`` id is kept as a cross-reference of its replacement); ancestors
at distance 1 become ``parent`` edges (the files mix is_a and part_of). Option
``require_description = true`` keeps only terms with a definition (ChEBI's curated ones).
The file is one JSON object, so it is loaded whole (tens of MB for ChEBI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from kogner.errors import InputFormatError
from kogner.kg.ids import TYPE_BY_PREFIX, curie, prefix_of
from kogner.kg.records import Alias, Edge, Entity, Record, Xref
from kogner.kg.sources import SourceSpec, open_text


def ontology_file(data_folder: Path, ontology: str, version: str | None = None) -> Path:
    """The JSON file of ``ontology`` (its latest version in the package unless ``version``)."""
    if version is None:
        info = json.loads((data_folder / "latest_ontology_info.json").read_text())
        version = info["ontologies"][ontology]["version"]
    return data_folder / f"{ontology}-ontology-{version}.json.zst"


def read(spec: SourceSpec) -> Iterator[Record]:
    ontology = spec.options.get("ontology")
    if not ontology:
        raise InputFormatError(spec.path, None, f"source {spec.name!r} needs option 'ontology' (e.g. MONDO)")
    path = spec.path
    if path.is_dir():
        path = ontology_file(path, ontology, spec.options.get("version"))
        spec.found_files.append(path)
    with open_text(path) as handle:
        try:
            terms = json.load(handle)
        except json.JSONDecodeError as error:
            raise InputFormatError(path, f"line {error.lineno}", f"invalid JSON: {error.msg}") from None
    require_description = bool(spec.options.get("require_description", False))
    selected = (
        (number, term_id, term)
        for number, (term_id, term) in enumerate(terms.items(), start=1)
        if not term.get("deprecated") and (term.get("description") or not require_description)
    )
    kept: set[str] = set()
    for number, term_id, term in spec.limited(selected):
        entity_id = curie(term_id)
        kept.add(entity_id)
        entity_type = spec.options.get("type") or TYPE_BY_PREFIX.get(prefix_of(entity_id), "Other")
        yield Entity(entity_id, term.get("label", ""), entity_type, term.get("description", ""), number)
        for synonym in term.get("synonyms", ()):
            yield Alias(entity_id, synonym, "synonym", number)
        for ancestor, distance in term.get("ancestors", {}).items():
            if distance == 1:
                yield Edge(entity_id, "parent", curie(ancestor), number)
    for number, (term_id, term) in enumerate(terms.items(), start=1):
        if term.get("deprecated") and curie(term.get("replaced_by") or "-") in kept:
            yield Xref(curie(term["replaced_by"]), curie(term_id), number)
