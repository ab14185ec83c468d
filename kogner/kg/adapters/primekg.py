"""PrimeKG ``kg.csv``: one edge per row, both endpoints described inline.

Columns: relation, display_relation, x_index, x_id, x_type, x_name, x_source, y_index,
y_id, y_type, y_name, y_source. Endpoints become entities the first time they appear
(ids by source: NCBI -> NCBIGene, DrugBank -> DRUGBANK, HPO/MONDO/GO/UBERON -> zero-padded
CURIEs, MONDO_grouped -> its first MONDO id, CTD -> MESH, REACTOME -> REACTOME); the edge
relation is the ``relation`` column.
"""

from __future__ import annotations

from collections.abc import Iterator

from kogner.errors import InputFormatError
from kogner.kg.adapters.tabular import header_rows
from kogner.kg.records import Edge, Entity, Record
from kogner.kg.sources import SourceSpec

_PREFIXES = {
    "NCBI": "NCBIGene",
    "DrugBank": "DRUGBANK",
    "CTD": "MESH",
    "REACTOME": "REACTOME",
    "HPO": "HP",
    "MONDO": "MONDO",
    "MONDO_grouped": "MONDO",
    "GO": "GO",
    "UBERON": "UBERON",
}
_PADDED = frozenset({"HP", "MONDO", "GO", "UBERON"})
TYPES = {
    "gene/protein": "Gene",
    "drug": "Chemical",
    "exposure": "Chemical",
    "disease": "Disease",
    "effect/phenotype": "Phenotype",
    "anatomy": "Anatomy",
    "biological_process": "BiologicalProcess",
    "molecular_function": "MolecularFunction",
    "cellular_component": "CellularComponent",
    "pathway": "Pathway",
}
_COLUMNS = ("relation", "x_id", "x_type", "x_name", "x_source", "y_id", "y_type", "y_name", "y_source")


def entity_id(raw: str, source: str) -> str:
    prefix = _PREFIXES.get(source, source.upper())
    local = raw.split("_")[0] if source == "MONDO_grouped" else raw
    if prefix in _PADDED and local.isdigit():
        local = local.zfill(7)
    return f"{prefix}:{local}"


def read(spec: SourceSpec) -> Iterator[Record]:
    seen: set[str] = set()
    for number, row in spec.limited(header_rows(spec.path, ",", _COLUMNS, quoting=True)):
        ends = []
        for side in ("x", "y"):
            node = entity_id(row[f"{side}_id"], row[f"{side}_source"])
            if row[f"{side}_type"] not in TYPES:
                raise InputFormatError(
                    spec.path, f"line {number}", f"unknown PrimeKG node type {row[f'{side}_type']!r}"
                )
            if node not in seen:
                seen.add(node)
                yield Entity(node, row[f"{side}_name"], TYPES[row[f"{side}_type"]], "", number)
            ends.append(node)
        yield Edge(ends[0], row["relation"], ends[1], number)
