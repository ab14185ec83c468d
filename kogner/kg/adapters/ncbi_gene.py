"""NCBI Gene ``gene_info[.gz]`` (tab-separated, header starting ``#tax_id``).

One Gene per GeneID (``NCBIGene:n``): name = Symbol, description = description; aliases:
Synonyms, the nomenclature full name and Other_designations; cross-references from
dbXrefs (``MIM:`` -> OMIM, ``HGNC:HGNC:5`` -> HGNC:5, ``Ensembl:`` -> ENSEMBL). ``-`` means empty.
"""

from __future__ import annotations

from collections.abc import Iterator

from kogner.kg.adapters.tabular import header_rows
from kogner.kg.ids import curie
from kogner.kg.records import Alias, Entity, Record, Xref
from kogner.kg.sources import SourceSpec, split_list


def _values(field: str) -> list[str]:
    return [] if field == "-" else split_list(field)


def read(spec: SourceSpec) -> Iterator[Record]:
    rows = header_rows(spec.path, required=("GeneID", "Symbol", "Synonyms", "dbXrefs", "description"))
    for number, row in spec.limited(rows):
        gene_id = f"NCBIGene:{row['GeneID']}"
        description = "" if row["description"] == "-" else row["description"]
        yield Entity(gene_id, row["Symbol"], "Gene", description, number)
        for synonym in _values(row["Synonyms"]):
            yield Alias(gene_id, synonym, "synonym", number)
        for name in _values(row.get("Full_name_from_nomenclature_authority", "-")):
            yield Alias(gene_id, name, "synonym", number)
        for name in _values(row.get("Other_designations", "-")):
            yield Alias(gene_id, name, "synonym", number)
        for xref in _values(row["dbXrefs"]):
            yield Xref(gene_id, curie(xref), number)
