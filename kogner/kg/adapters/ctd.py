"""CTD vocabularies: CTD_diseases ("MEDIC"), CTD_chemicals, CTD_genes (``.tsv[.gz]``).

Files start with ``#`` comment lines; the line after ``# Fields:`` names the columns, so
one reader handles all three layouts:

- diseases: DiseaseName, DiseaseID (``MESH:``/``OMIM:``), AltDiseaseIDs (``DO:DOID:..``,
  ``OMIM:..``), Definition, ParentIDs, TreeNumbers, ParentTreeNumbers, Synonyms, SlimMappings
- chemicals: ChemicalName, ChemicalID (``MESH:``), CasRN, Definition, ParentIDs, ...Synonyms
- genes: GeneSymbol, GeneName, GeneID (NCBI Gene), AltGeneIDs, Synonyms, BioGRIDIDs, ...

Alt ids become cross-references, ParentIDs ``parent`` edges, Synonyms aliases.
"""

from __future__ import annotations

from collections.abc import Iterator

from kogner.errors import InputFormatError
from kogner.kg.ids import curie
from kogner.kg.records import Alias, Edge, Entity, Record, Xref
from kogner.kg.sources import SourceSpec, numbered_lines, split_list

#: (name, id, entity type, id prefix when bare) by the file's id column.
_LAYOUTS = {
    "DiseaseID": ("DiseaseName", "Disease", "MESH"),
    "ChemicalID": ("ChemicalName", "Chemical", "MESH"),
    "GeneID": ("GeneSymbol", "Gene", "NCBIGene"),
}


def read(spec: SourceSpec) -> Iterator[Record]:
    yield from spec.limited(_records(spec))


def _records(spec: SourceSpec) -> Iterator[Record]:
    columns: list[str] | None = None
    expect_fields = False
    for number, line in numbered_lines(spec.path):
        if line.startswith("#"):
            if expect_fields and line.strip("# "):
                columns = line.lstrip("# ").split("\t")
                expect_fields = False
            expect_fields = expect_fields or line.strip() == "# Fields:"
            continue
        if not line:
            continue
        if columns is None:
            raise InputFormatError(spec.path, f"line {number}", "no '# Fields:' header before the first record")
        fields = dict(zip(columns, line.split("\t"), strict=False))
        id_column = next((c for c in _LAYOUTS if c in fields), None)
        if id_column is None:
            raise InputFormatError(spec.path, f"line {number}", f"unknown CTD layout {columns}")
        yield from _row(number, fields, id_column)


def _row(number: int, fields: dict[str, str], id_column: str) -> Iterator[Record]:
    name_column, entity_type, prefix = _LAYOUTS[id_column]
    entity_id = curie(fields[id_column], prefix)
    description = fields.get("Definition", "") or (fields.get("GeneName", "") if id_column == "GeneID" else "")
    yield Entity(entity_id, fields.get(name_column, ""), entity_type, description, number)
    if id_column == "GeneID" and fields.get("GeneName"):
        yield Alias(entity_id, fields["GeneName"], "synonym", number)
    for synonym in split_list(fields.get("Synonyms", "")):
        yield Alias(entity_id, synonym, "synonym", number)
    for alt_column in ("AltDiseaseIDs", "AltGeneIDs"):
        for alt_id in split_list(fields.get(alt_column, "")):
            yield Xref(entity_id, curie(alt_id, prefix), number)
    if fields.get("CasRN"):
        yield Xref(entity_id, f"CAS:{fields['CasRN']}", number)
    for parent in split_list(fields.get("ParentIDs", "")):
        yield Edge(entity_id, "parent", curie(parent, prefix), number)
