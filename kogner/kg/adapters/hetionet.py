"""Hetionet v1.0: ``nodes.tsv`` (id, name, kind; ids ``Kind::identifier``) and, as option
``edges``, a SIF edge list (source, metaedge, target; ``.sif[.gz]``).

Node ids become CURIEs so they meet other sources: ``Compound::DB00014`` ->
``DRUGBANK:DB00014``, ``Gene::1`` -> ``NCBIGene:1``, ``Side Effect::C0000727`` ->
``UMLS:C0000727``, ``Symptom::D000006`` -> ``MESH:D000006``, ``Pharmacologic Class::N...``
-> ``NDFRT:N...``, ``Pathway::PC7_1`` -> ``PATHWAYCOMMONS:PC7_1``; Disease (DOID), Anatomy
(UBERON) and GO ids are CURIEs already. Relations are Hetionet's 24 metaedge abbreviations
(``CtD`` = Compound-treats-Disease, ``GpBP`` = Gene-participates-Biological Process, ...).
"""

from __future__ import annotations

from collections.abc import Iterator

from kogner.errors import InputFormatError
from kogner.kg.adapters.tabular import header_rows
from kogner.kg.ids import curie
from kogner.kg.records import Edge, Entity, Record
from kogner.kg.sources import SourceSpec, numbered_lines

#: Hetionet kind -> (entity type, prefix for bare identifiers)
KINDS = {
    "Anatomy": ("Anatomy", None),
    "Biological Process": ("BiologicalProcess", None),
    "Cellular Component": ("CellularComponent", None),
    "Molecular Function": ("MolecularFunction", None),
    "Disease": ("Disease", None),
    "Compound": ("Chemical", "DRUGBANK"),
    "Gene": ("Gene", "NCBIGene"),
    "Pathway": ("Pathway", "PATHWAYCOMMONS"),
    "Pharmacologic Class": ("Chemical", "NDFRT"),
    "Side Effect": ("Phenotype", "UMLS"),
    "Symptom": ("Phenotype", "MESH"),
}


def node_id(raw: str) -> str:
    """``Kind::identifier`` -> CURIE (see module docstring)."""
    kind, sep, identifier = raw.partition("::")
    if not sep or kind not in KINDS:
        raise ValueError(f"not a Hetionet node id: {raw!r}")
    prefix = KINDS[kind][1]
    return f"{prefix}:{identifier}" if prefix else curie(identifier)


def read(spec: SourceSpec) -> Iterator[Record]:
    for number, row in spec.limited(header_rows(spec.path, required=("id", "name", "kind"))):
        if row["kind"] not in KINDS:
            raise InputFormatError(spec.path, f"line {number}", f"unknown Hetionet kind {row['kind']!r}")
        yield Entity(node_id(row["id"]), row["name"], KINDS[row["kind"]][0], "", number)
    if "edges" in spec.options:
        path = spec.file("edges")
        for number, line in spec.limited(numbered_lines(path)):
            fields = line.split("\t")
            if number == 1 and fields[0] == "source":
                continue
            try:
                head, metaedge, tail = fields
                edge = Edge(node_id(head), metaedge, node_id(tail), number)
            except ValueError as error:
                raise InputFormatError(
                    path, f"line {number}", f"expected 'source TAB metaedge TAB target': {error}"
                ) from None
            yield edge
