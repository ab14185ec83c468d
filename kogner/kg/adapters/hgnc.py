"""HGNC complete set (``hgnc_complete_set.txt[.gz]``, tab-separated with header).

One Gene per approved record: id ``HGNC:n``, name = approved symbol, description = approved
name; aliases: approved name, alias symbols and names (``synonym``), previous symbols
(``previous_symbol``) and names; cross-references: NCBI Gene (``entrez_id``), OMIM,
Ensembl. ``Entry Withdrawn`` records are skipped unless option ``include_withdrawn``.
"""

from __future__ import annotations

from collections.abc import Iterator

from kogner.kg.adapters.tabular import header_rows
from kogner.kg.records import Alias, Entity, Record, Xref
from kogner.kg.sources import SourceSpec, split_list

_XREF_COLUMNS = (("entrez_id", "NCBIGene"), ("omim_id", "OMIM"), ("ensembl_gene_id", "ENSEMBL"))


def read(spec: SourceSpec) -> Iterator[Record]:
    include_withdrawn = bool(spec.options.get("include_withdrawn", False))
    for number, row in spec.limited(header_rows(spec.path, required=("hgnc_id", "symbol", "name", "status"))):
        if row["status"] != "Approved" and not include_withdrawn:
            continue
        gene_id = row["hgnc_id"]
        yield Entity(gene_id, row["symbol"], "Gene", row["name"], number)
        yield Alias(gene_id, row["name"], "synonym", number)
        for column, kind in (
            ("alias_symbol", "synonym"),
            ("alias_name", "synonym"),
            ("prev_symbol", "previous_symbol"),
            ("prev_name", "synonym"),
        ):
            for alias in split_list(row.get(column, "").strip('"')):
                yield Alias(gene_id, alias, kind, number)
        for column, prefix in _XREF_COLUMNS:
            for value in split_list(row.get(column, "").strip('"')):
                yield Xref(gene_id, f"{prefix}:{value}", number)
