"""DrugBank open vocabulary CSV (``drugbank vocabulary.csv``).

Comma-separated as DrugBank ships it; the copy in the reference data is ``;``-separated
with an extra first row (``Column1;Column2;...``) — both are detected. Columns: DrugBank ID,
Accession Numbers, Common name, CAS, UNII, Synonyms (`` | ``-joined), Standard InChI Key.
One Chemical per drug (``DRUGBANK:DB00001``); CAS, UNII and InChIKey become cross-references.
"""

from __future__ import annotations

from collections.abc import Iterator

from kogner.kg.adapters.tabular import header_rows
from kogner.kg.records import Alias, Entity, Record, Xref
from kogner.kg.sources import SourceSpec, open_text, split_list

_XREF_COLUMNS = (("CAS", "CAS"), ("UNII", "UNII"), ("Standard InChI Key", "INCHIKEY"))


def read(spec: SourceSpec) -> Iterator[Record]:
    with open_text(spec.path) as handle:
        first = handle.readline()
    delimiter = ";" if first.count(";") > first.count(",") else ","
    skip = 1 if first.startswith("Column1") else 0
    rows = header_rows(spec.path, delimiter, ("DrugBank ID", "Common name", "Synonyms"), skip, quoting=True)
    for number, row in spec.limited(rows):
        drug_id = f"DRUGBANK:{row['DrugBank ID']}"
        yield Entity(drug_id, row["Common name"], "Chemical", "", number)
        for synonym in split_list(row["Synonyms"]):
            yield Alias(drug_id, synonym, "synonym", number)
        for column, prefix in _XREF_COLUMNS:
            if row.get(column, "").strip():
                yield Xref(drug_id, f"{prefix}:{row[column].strip()}", number)
